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
