//! FRR (Debian's frr package, 8.4) inside a lab namespace, the way FRR's own topotests run it:
//! one directory per instance owned by user `frr` holding the configs, vty sockets, zserv
//! socket, pid files and logs. zebra is optional: `bgpd -Z` is pure BGP (no kernel routes),
//! which is what the benchmark wants.

use crate::error::{Context, LabError, Result};
use crate::netns::Netns;
use crate::process::{run_with_timeout, Daemon};
use crate::wait::wait_until;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where Debian installs the FRR daemons.
pub const FRR_BIN_DIR: &str = "/usr/lib/frr";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh per-instance directory under the system temp dir, named like our namespaces.
pub(crate) fn instance_dir(kind: &str) -> Result<PathBuf> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "evl-{}-{kind}-{n}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).context(format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Removes an instance directory unless `EVPND_LAB_KEEP` is set (then its path is printed,
/// to look at the logs of a failed run).
pub(crate) fn remove_instance_dir(dir: &Path) {
    if std::env::var_os("EVPND_LAB_KEEP").is_some() {
        eprintln!("evpnd-lab: keeping {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A scratch directory (for captures, configs) removed on drop, unless `EVPND_LAB_KEEP` is
/// set, in which case its path is printed and it stays for inspection.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/evl-PID-KIND-N-…`.
    pub fn new(kind: &str) -> Result<TempDir> {
        instance_dir(kind).map(TempDir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove_instance_dir(&self.0);
    }
}

/// The last `lines` lines of a text file (for error messages), or "" if unreadable.
pub fn tail(path: &Path, lines: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// How to start an FRR instance.
#[derive(Clone, Debug)]
pub struct FrrOptions {
    /// Run zebra (kernel routes, EVPN VNIs, FDB) before bgpd; without it bgpd runs with `-Z`.
    pub zebra: bool,
    /// zebra.conf contents (used when `zebra` is set).
    pub zebra_conf: String,
    /// bgpd.conf contents.
    pub bgpd_conf: String,
    /// Bound on each daemon's start-up.
    pub start_timeout: Duration,
}

impl FrrOptions {
    /// Pure BGP: `bgpd -Z` with `bgpd_conf`.
    pub fn bgp_only(bgpd_conf: impl Into<String>) -> Self {
        FrrOptions {
            zebra: false,
            zebra_conf: String::new(),
            bgpd_conf: bgpd_conf.into(),
            start_timeout: Duration::from_secs(20),
        }
    }

    /// zebra + bgpd.
    pub fn with_zebra(zebra_conf: impl Into<String>, bgpd_conf: impl Into<String>) -> Self {
        FrrOptions {
            zebra: true,
            zebra_conf: zebra_conf.into(),
            bgpd_conf: bgpd_conf.into(),
            start_timeout: Duration::from_secs(20),
        }
    }
}

/// A running FRR instance. Dropping it stops bgpd, then zebra, and removes its directory.
#[derive(Debug)]
pub struct Frr {
    dir: PathBuf,
    bgpd: Option<Daemon>,
    zebra: Option<Daemon>,
}

fn daemon_command(ns: &Netns, name: &str, dir: &Path, extra: &[&str]) -> Result<Command> {
    let d = dir.display().to_string();
    let mut c = ns.command(&format!("{FRR_BIN_DIR}/{name}"));
    c.args(extra).args([
        "-P",
        "0",
        "-z",
        &format!("{d}/zserv.api"),
        "--vty_socket",
        &d,
        "-f",
        &format!("{d}/{name}.conf"),
        "-i",
        &format!("{d}/{name}.pid"),
        "--log",
        &format!("file:{d}/{name}.log"),
    ]);
    let out = std::fs::File::create(dir.join(format!("{name}.stdout")))?;
    let err = out.try_clone()?;
    c.stdout(Stdio::from(out)).stderr(Stdio::from(err));
    Ok(c)
}

impl Frr {
    /// Starts FRR in `ns` as described by `opts`, waiting (bounded) until each daemon's vty
    /// socket exists, so vtysh works as soon as this returns.
    pub fn start(ns: &Netns, opts: &FrrOptions) -> Result<Frr> {
        let dir = instance_dir("frr")?;
        let mut frr = Frr {
            dir: dir.clone(),
            bgpd: None,
            zebra: None,
        };
        std::fs::write(dir.join("bgpd.conf"), &opts.bgpd_conf)?;
        if opts.zebra {
            std::fs::write(dir.join("zebra.conf"), &opts.zebra_conf)?;
        }
        run_with_timeout(
            Command::new("chown").args(["-R", "frr:frr", &dir.display().to_string()]),
            Duration::from_secs(10),
        )
        .context("chown of the FRR instance directory (is the frr package installed?)")?;
        if opts.zebra {
            let mut d = Daemon::spawn("zebra", &mut daemon_command(ns, "zebra", &dir, &[])?)?;
            let api = dir.join("zserv.api");
            wait_until(opts.start_timeout, Duration::from_millis(20), || {
                api.exists() || !d.is_running()
            })
            .and_then(|_| {
                if d.is_running() {
                    Ok(())
                } else {
                    Err(LabError::new("zebra exited"))
                }
            })
            .map_err(|e| {
                e.context(format!(
                    "starting zebra: {}",
                    tail(&dir.join("zebra.log"), 20)
                ))
            })?;
            frr.zebra = Some(d);
        }
        let extra: &[&str] = if opts.zebra { &[] } else { &["-Z"] };
        let mut b = Daemon::spawn("bgpd", &mut daemon_command(ns, "bgpd", &dir, extra)?)?;
        let vty = dir.join("bgpd.vty");
        let started = wait_until(opts.start_timeout, Duration::from_millis(20), || {
            vty.exists() || !b.is_running()
        });
        if started.is_err() || !b.is_running() {
            return Err(LabError::new(format!(
                "bgpd did not start: {}{}",
                tail(&dir.join("bgpd.log"), 20),
                tail(&dir.join("bgpd.stdout"), 20)
            )));
        }
        frr.bgpd = Some(b);
        Ok(frr)
    }

    /// Convenience: `bgpd -Z` with `bgpd_conf`.
    pub fn bgp_only(ns: &Netns, bgpd_conf: &str) -> Result<Frr> {
        Frr::start(ns, &FrrOptions::bgp_only(bgpd_conf))
    }

    /// The instance directory (configs, sockets, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// bgpd's pid (for memory measurements).
    pub fn bgpd_pid(&self) -> Option<u32> {
        self.bgpd.as_ref().map(Daemon::pid)
    }

    /// zebra's pid, when it runs.
    pub fn zebra_pid(&self) -> Option<u32> {
        self.zebra.as_ref().map(Daemon::pid)
    }

    /// True while bgpd runs.
    pub fn bgpd_running(&mut self) -> bool {
        self.bgpd.as_mut().is_some_and(Daemon::is_running)
    }

    /// The end of bgpd's log.
    pub fn bgpd_log(&self, lines: usize) -> String {
        tail(&self.dir.join("bgpd.log"), lines)
    }

    /// Runs one vtysh command against this instance (bounded to 60 s) and returns its output.
    pub fn vtysh(&self, cmd: &str) -> Result<String> {
        run_with_timeout(
            Command::new("vtysh").args([
                "--vty_socket",
                &self.dir.display().to_string(),
                "-c",
                cmd,
            ]),
            Duration::from_secs(60),
        )
        .context(format!("vtysh -c {cmd:?}"))
    }

    /// Runs a vtysh command that ends in `json` and parses the output.
    pub fn vtysh_json(&self, cmd: &str) -> Result<Value> {
        let out = self.vtysh(cmd)?;
        serde_json::from_str(&out).map_err(|e| {
            LabError::new(format!(
                "vtysh -c {cmd:?}: not JSON ({e}): {}",
                out.chars().take(300).collect::<String>()
            ))
        })
    }

    /// The BGP state of neighbour `peer` (e.g. "Established"), from
    /// `show bgp neighbors PEER json`.
    pub fn neighbor_state(&self, peer: &str) -> Result<String> {
        let v = self.vtysh_json(&format!("show bgp neighbors {peer} json"))?;
        Ok(v[peer]["bgpState"]
            .as_str()
            .unwrap_or("unknown")
            .to_string())
    }

    /// Waits (bounded) until neighbour `peer` is Established.
    pub fn wait_established(&self, peer: &str, timeout: Duration) -> Result<()> {
        wait_until(timeout, Duration::from_millis(200), || {
            self.neighbor_state(peer).is_ok_and(|s| s == "Established")
        })
        .map_err(|e| {
            e.context(format!(
                "FRR neighbour {peer} not Established ({:?}); log:\n{}",
                self.neighbor_state(peer),
                self.bgpd_log(15)
            ))
        })
    }
}

impl Frr {
    /// FRR's EVPN routes of `route_type` (`macip`, `prefix`, `multicast`, …) with path
    /// details (`show bgp l2vpn evpn route detail type TYPE json`): the view in which FRR 8.4
    /// shows both labels of a type-2 route (`vni` "L2VNI/L3VNI") and the Router's MAC.
    pub fn evpn_route_detail(&self, route_type: &str) -> Result<Vec<FrrEvpnPath>> {
        let v = self.vtysh_json(&format!(
            "show bgp l2vpn evpn route detail type {route_type} json"
        ))?;
        parse_evpn_route_detail(&v)
    }
}

/// One path of an EVPN route as FRR shows it in detail (RFC 7432 §7.2 type 2, RFC 9136 §3
/// type 5; RFC 9135 §8.1 Router's MAC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrrEvpnPath {
    /// The route distinguisher.
    pub rd: String,
    /// FRR's route key, e.g. `[5]:[0]:[24]:[192.0.2.0]`.
    pub prefix: String,
    /// The EVPN route type.
    pub route_type: u64,
    /// The MAC of a type-2 route.
    pub mac: Option<String>,
    /// The IP of a type-2 route or the prefix of a type-5 route.
    pub ip: Option<String>,
    /// Its length in bits (type 2: 32/128; type 5: the prefix length).
    pub ip_len: Option<u64>,
    /// FRR's label text: `100/5000` for a type-2 route with an L3VNI, `5000` for type 5.
    pub vni: String,
    /// The path is valid (its next hop resolved, nothing denied it).
    pub valid: bool,
    /// The path is FRR's best.
    pub best: bool,
    /// The extended communities as FRR prints them (`RT:65000:5000`, `ET:8`, `Rmac:…`).
    pub communities: Vec<String>,
    /// The first next hop.
    pub next_hop: Option<String>,
}

impl FrrEvpnPath {
    /// The Router's MAC extended community, if the path carries one (`Rmac:…`).
    pub fn router_mac(&self) -> Option<&str> {
        self.communities
            .iter()
            .find_map(|c| c.strip_prefix("Rmac:"))
    }

    /// The labels as VNIs: label 1 first (`100/5000` gives `[100, 5000]`).
    pub fn vnis(&self) -> Vec<u32> {
        self.vni
            .split('/')
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    }
}

/// Parses `show bgp l2vpn evpn route detail type … json` (FRR 8.4: RD → route key → `paths`,
/// a list of lists of paths).
pub fn parse_evpn_route_detail(v: &Value) -> Result<Vec<FrrEvpnPath>> {
    let rds = v
        .as_object()
        .ok_or_else(|| LabError::new(format!("FRR EVPN routes: not an object: {v}")))?;
    let mut out = Vec::new();
    for (rd, routes) in rds {
        let Some(routes) = routes.as_object() else {
            continue; // numPrefix, numPaths
        };
        for (key, route) in routes.iter().filter(|(k, _)| k.starts_with('[')) {
            let paths = route["paths"].as_array().cloned().unwrap_or_default();
            for p in paths.iter().flat_map(|x| match x {
                Value::Array(inner) => inner.clone(),
                other => vec![other.clone()],
            }) {
                let text = |k: &str| route[k].as_str().map(str::to_string);
                let best = match &p["bestpath"] {
                    Value::Bool(b) => *b,
                    other => other["overall"].as_bool().unwrap_or(false),
                };
                out.push(FrrEvpnPath {
                    rd: rd.clone(),
                    prefix: key.clone(),
                    route_type: route["routeType"].as_u64().unwrap_or(0),
                    mac: text("mac"),
                    ip: text("ip"),
                    ip_len: route["ipLen"].as_u64(),
                    vni: p["vni"]
                        .as_str()
                        .or_else(|| p["VNI"].as_str())
                        .unwrap_or("")
                        .to_string(),
                    valid: p["valid"].as_bool().unwrap_or(false),
                    best,
                    communities: p["extendedCommunity"]["string"]
                        .as_str()
                        .unwrap_or("")
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    next_hop: p["nexthops"][0]["ip"].as_str().map(str::to_string),
                });
            }
        }
    }
    Ok(out)
}

impl Drop for Frr {
    fn drop(&mut self) {
        if let Some(mut b) = self.bgpd.take() {
            b.stop(Duration::from_secs(5));
        }
        if let Some(mut z) = self.zebra.take() {
            z.stop(Duration::from_secs(5));
        }
        remove_instance_dir(&self.dir);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod detail_tests {
    use super::*;

    /// FRR 8.4.4's own output for a symmetric type-2 and a type-5 route (sent by GoBGP here).
    #[test]
    fn parses_frr_symmetric_routes() {
        let macip = r#"{"198.19.0.1:100":{"rd":"198.19.0.1:100","[2]:[0]:[48]:[02:00:00:01:01:01]:[32]:[192.0.2.11]":{"prefix":"[2]:[0]:[48]:[02:00:00:01:01:01]:[32]:[192.0.2.11]","prefixLen":352,"rd":"198.19.0.1:100","routeType":2,"ethTag":0,"macLen":48,"mac":"02:00:00:01:01:01","ipLen":32,"ip":"192.0.2.11","advertisedTo":{"198.18.0.1":{"hostname":"vm"}},"paths":[[{"VNI":"100/5000","vni":"100/5000","aspath":{"string":"65001","segments":[{"type":"as-sequence","list":[65001]}],"length":1},"origin":"incomplete","valid":true,"version":1,"bestpath":{"overall":true,"selectionReason":"First path received"},"extendedCommunity":{"string":"RT:65000:100 RT:65000:5000 ET:8 Rmac:02:00:c6:13:00:01"},"nexthops":[{"ip":"198.19.0.1","hostname":"vm","afi":"ipv4","metric":0,"accessible":true,"used":true}],"peer":{"peerId":"198.18.0.1","routerId":"198.19.0.1","hostname":"vm","type":"external"}}]]}},"numPrefix":1,"numPaths":1}"#;
        let p = parse_evpn_route_detail(&serde_json::from_str(macip).unwrap()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].route_type, 2);
        assert_eq!(p[0].vnis(), vec![100, 5000]);
        assert_eq!(p[0].router_mac(), Some("02:00:c6:13:00:01"));
        assert_eq!(p[0].mac.as_deref(), Some("02:00:00:01:01:01"));
        assert_eq!(p[0].ip.as_deref(), Some("192.0.2.11"));
        assert!(p[0].valid && p[0].best);
        assert!(p[0].communities.contains(&"RT:65000:5000".to_string()));
        assert_eq!(p[0].next_hop.as_deref(), Some("198.19.0.1"));
        let prefix = r#"{"198.19.0.1:5000":{"rd":"198.19.0.1:5000","[5]:[0]:[24]:[192.0.2.0]":{"prefix":"[5]:[0]:[24]:[192.0.2.0]","prefixLen":352,"rd":"198.19.0.1:5000","routeType":5,"ethTag":0,"ipLen":24,"ip":"192.0.2.0","paths":[[{"VNI":"5000","vni":"5000","valid":true,"bestpath":{"overall":true},"extendedCommunity":{"string":"RT:65000:5000 ET:8 Rmac:02:00:c6:13:00:01"},"nexthops":[{"ip":"198.19.0.1"}]}]]}},"numPrefix":1,"numPaths":1}"#;
        let p = parse_evpn_route_detail(&serde_json::from_str(prefix).unwrap()).unwrap();
        assert_eq!((p[0].route_type, p[0].ip_len), (5, Some(24)));
        assert_eq!(p[0].vnis(), vec![5000]);
        assert_eq!(p[0].rd, "198.19.0.1:5000");
        assert!(parse_evpn_route_detail(&serde_json::json!({}))
            .unwrap()
            .is_empty());
    }
}
