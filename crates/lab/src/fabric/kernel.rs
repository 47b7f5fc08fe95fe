//! Reading a host's kernel state the way an operator would: `bridge fdb`, `ip neigh`, and
//! `bridge monitor fdb` with timestamps.

use crate::error::{LabError, Result};
use crate::netns::Netns;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
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

pub(super) fn parse_json_rows(json: &str, what: &str) -> Result<Vec<Value>> {
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

pub(super) fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
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

// ---------------------------------------------------------------------------------------------
// Routes and links (the tables inside a VRF namespace)

/// One row of `ip -j route show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// The destination as the kernel prints it: `default`, `192.0.2.0/24`, or a bare address
    /// for a host route.
    pub dst: String,
    /// The gateway, for a route through a next hop.
    pub gateway: Option<IpAddr>,
    /// The output device.
    pub dev: Option<String>,
    /// `kernel`, `boot`, `static`, a number (evpnd's own protocol), …
    pub protocol: String,
    /// `unicast` unless the kernel says otherwise (`blackhole`, …).
    pub kind: String,
    /// Flags such as `onlink`.
    pub flags: Vec<String>,
    /// The next hops of a multipath route: (gateway, device).
    pub nexthops: Vec<(Option<IpAddr>, Option<String>)>,
}

impl RouteEntry {
    /// The prefix length (`default` is 0, a bare address its full length).
    pub fn prefix_len(&self) -> Option<u8> {
        if self.dst == "default" {
            return Some(0);
        }
        match self.dst.split_once('/') {
            Some((_, len)) => len.parse().ok(),
            None => match self.dst.parse::<IpAddr>().ok()? {
                IpAddr::V4(_) => Some(32),
                IpAddr::V6(_) => Some(128),
            },
        }
    }

    /// True when the route's destination contains `ip`.
    pub fn covers(&self, ip: IpAddr) -> bool {
        let Some(len) = self.prefix_len() else {
            return false;
        };
        if self.dst == "default" {
            return true;
        }
        let net_text = self
            .dst
            .split_once('/')
            .map_or(self.dst.as_str(), |(n, _)| n);
        let Ok(net) = net_text.parse::<IpAddr>() else {
            return false;
        };
        match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// True when the destination is exactly `prefix` (`198.51.100.13` and
    /// `198.51.100.13/32` are the same host route).
    pub fn is_prefix(&self, prefix: &str) -> bool {
        let strip = |p: &str| -> String {
            match p.split_once('/') {
                Some((a, "32")) if !a.contains(':') => a.to_string(),
                Some((a, "128")) if a.contains(':') => a.to_string(),
                _ => p.to_string(),
            }
        };
        strip(&self.dst) == strip(prefix)
    }

    /// Every (gateway, device) the route forwards through: its own or its multipath ones.
    pub fn paths(&self) -> Vec<(Option<IpAddr>, Option<String>)> {
        if self.nexthops.is_empty() {
            vec![(self.gateway, self.dev.clone())]
        } else {
            self.nexthops.clone()
        }
    }
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn ip_of(v: &Value, k: &str) -> Result<Option<IpAddr>> {
    match text(v, k) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|e| LabError::new(format!("route {k} {t:?}: {e}"))),
    }
}

/// Parses `ip -j route show`.
pub fn parse_routes(json: &str) -> Result<Vec<RouteEntry>> {
    let rows = parse_json_rows(json, "ip -j route show")?;
    rows.iter()
        .map(|r| {
            let nexthops = match r.get("nexthops").and_then(Value::as_array) {
                None => Vec::new(),
                Some(a) => a
                    .iter()
                    .map(|n| Ok((ip_of(n, "gateway")?, text(n, "dev"))))
                    .collect::<Result<Vec<_>>>()?,
            };
            Ok(RouteEntry {
                dst: text(r, "dst").unwrap_or_default(),
                gateway: ip_of(r, "gateway")?,
                dev: text(r, "dev"),
                protocol: match r.get("protocol") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                },
                kind: text(r, "type").unwrap_or_else(|| "unicast".into()),
                flags: strings(r.get("flags")),
                nexthops,
            })
        })
        .collect()
}

/// One device of `ip -d -j addr show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEntry {
    /// The device name.
    pub name: String,
    /// Its MAC address, lower case.
    pub mac: Option<String>,
    /// `linkinfo.info_kind`: `vxlan`, `bridge`, `veth`, … (`None` for `lo`).
    pub kind: Option<String>,
    /// The VNI of a VXLAN device.
    pub vni: Option<u32>,
    /// The bridge the device is a port of.
    pub master: Option<String>,
    /// Its addresses with prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// `UP` among its flags.
    pub up: bool,
}

impl LinkEntry {
    /// True when `ip` is one of the device's addresses.
    pub fn has_address(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|(a, _)| *a == ip)
    }
}

/// Parses `ip -d -j addr show` (or `ip -d -j link show`, without addresses).
pub fn parse_links(json: &str) -> Result<Vec<LinkEntry>> {
    let rows = parse_json_rows(json, "ip -d -j addr show")?;
    rows.iter()
        .map(|r| {
            let info = r.get("linkinfo");
            let addresses = r
                .get("addr_info")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            let ip = text(x, "local")?.parse().ok()?;
                            let len = u8::try_from(x.get("prefixlen")?.as_u64()?).ok()?;
                            Some((ip, len))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(LinkEntry {
                name: text(r, "ifname").unwrap_or_default(),
                mac: text(r, "address").map(|m| m.to_ascii_lowercase()),
                kind: info.and_then(|i| text(i, "info_kind")),
                vni: info
                    .and_then(|i| i.pointer("/info_data/id"))
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok()),
                master: text(r, "master"),
                addresses,
                up: strings(r.get("flags")).iter().any(|f| f == "UP"),
            })
        })
        .collect()
}
