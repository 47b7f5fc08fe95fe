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
