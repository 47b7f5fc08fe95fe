//! Tenants: a namespace with one interface behind a host port, and what a test does with it
//! (pings, counters, gratuitous ARP).

use super::kernel::parse_json_rows;
use super::TENANT_IF;
use crate::env::tool_path;
use crate::error::{Context, LabError, Result};
use crate::netns::Netns;
use crate::process::{run_output, signal};
use serde_json::Value;
use std::net::IpAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
/// A tenant to add with [`Fabric::add_tenant`](super::Fabric::add_tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSpec {
    /// A name for messages and look-ups.
    pub label: String,
    /// The host (0-based position in [`Fabric::hosts`](super::Fabric::hosts)) whose namespace gets the port.
    pub host: usize,
    /// The VNI the tenant belongs to (for the test's bookkeeping; the fabric plugs nothing).
    pub vni: u32,
    /// The tenant's MAC (on `eth0`).
    pub mac: String,
    /// The tenant's address with its prefix length, e.g. `192.0.2.11/24`.
    pub address: String,
    /// The name of the host side of the veth, e.g. `t1v100`.
    pub port: String,
    /// A second, IPv6 address with its prefix length (a dual-stack tenant of a routed subnet,
    /// e.g. `2001:db8:100::11/64`); IPv6 stays off in the tenant's namespace without one.
    pub address6: Option<String>,
    /// Default gateways (at most one per address family, e.g. the anycast gateway
    /// `192.0.2.254` and `2001:db8:100::1`, RFC 9135 §4): `ip route add default via GW`.
    pub gateways: Vec<String>,
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
            address6: None,
            gateways: Vec::new(),
        }
    }

    /// The same tenant with a second, IPv6 address (`address6` with prefix length).
    pub fn with_ipv6(mut self, address6: &str) -> Self {
        self.address6 = Some(address6.into());
        self
    }

    /// The same tenant with a default route via `gateway` (an IPv4 or IPv6 address).
    pub fn with_gateway(mut self, gateway: &str) -> Self {
        self.gateways.push(gateway.into());
        self
    }
}

/// A tenant: a namespace with one interface `eth0` behind a port in a host namespace.
#[derive(Debug)]
pub struct Tenant {
    pub(super) label: String,
    pub(super) vni: u32,
    pub(super) mac: String,
    pub(super) ip: IpAddr,
    pub(super) prefix_len: u8,
    pub(super) port: String,
    pub(super) host: usize,
    pub(super) netns: Netns,
    pub(super) ip6: Option<IpAddr>,
    pub(super) gateways: Vec<IpAddr>,
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

    pub(super) fn args(&self, dst: IpAddr) -> Vec<String> {
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

    /// Its IPv6 address, when it has one ([`TenantSpec::with_ipv6`]).
    pub fn ip6(&self) -> Option<IpAddr> {
        self.ip6
    }

    /// Every address of the tenant: [`Tenant::ip`], then [`Tenant::ip6`] when it has one.
    pub fn addresses(&self) -> Vec<IpAddr> {
        std::iter::once(self.ip).chain(self.ip6).collect()
    }

    /// Its default gateways ([`TenantSpec::with_gateway`]).
    pub fn gateways(&self) -> &[IpAddr] {
        &self.gateways
    }

    /// The tenant's own neighbour table on `eth0` (`ip -j neigh show dev eth0 nud all`):
    /// what it resolved its gateway and on-link peers to.
    pub fn neighbors(&self) -> Result<Vec<super::NeighborEntry>> {
        let out = self
            .netns
            .ip(&["-j", "neigh", "show", "dev", TENANT_IF, "nud", "all"])?;
        super::parse_neighbors(&out, Some(TENANT_IF))
    }

    /// The tenant's neighbour entry for `ip`, if it has one.
    pub fn neighbor(&self, ip: IpAddr) -> Result<Option<super::NeighborEntry>> {
        Ok(self.neighbors()?.into_iter().find(|n| n.ip == ip))
    }

    /// Keeps the tenant's ARP and ND entries when `eth0` loses its carrier
    /// (`arp_evict_nocarrier = 0`, `ndisc_evict_nocarrier = 0`). Moving the port to another
    /// host ([`Fabric::move_tenant`](super::Fabric::move_tenant)) takes the veth's carrier
    /// down for a moment, and the kernel would otherwise flush the tenant's neighbour table,
    /// which a live-migrated VM does not see happen: with this, a move keeps the tenant's
    /// gateway entry unless the network itself makes it re-resolve.
    pub fn keep_neighbors_on_carrier_loss(&self) -> Result<()> {
        let v4 = format!("net.ipv4.conf.{TENANT_IF}.arp_evict_nocarrier=0");
        let mut settings = vec![v4];
        if self.ip.is_ipv6() || self.ip6.is_some() {
            settings.push(format!("net.ipv6.conf.{TENANT_IF}.ndisc_evict_nocarrier=0"));
        }
        let mut args = vec!["sysctl", "-qw"];
        args.extend(settings.iter().map(String::as_str));
        self.netns.exec(&args).map(|_| ())
    }

    /// Makes the tenant a router for `address` (with prefix length, e.g. `203.0.113.1/24`):
    /// the address goes on `lo` (the kernel has no `dummy` devices here) and IP forwarding is
    /// turned on, so the tenant answers for the prefix behind it (a type-5 next hop, RFC 9136
    /// §4.4.1).
    pub fn add_routed_address(&self, address: &str) -> Result<()> {
        let ipv6 = address.contains(':');
        let mut args = vec!["addr", "add", address, "dev", "lo"];
        if ipv6 {
            args.push("nodad");
        }
        self.netns.ip(&args)?;
        let key = if ipv6 {
            "net.ipv6.conf.all.forwarding=1"
        } else {
            "net.ipv4.ip_forward=1"
        };
        self.netns.exec(&["sysctl", "-qw", key]).map(|_| ())
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
