//! Network namespaces and small fabrics of them.
//!
//! Namespace names are global to the machine, so each one is named `evl-PID-N` (process id
//! plus a per-process counter) and deleted on drop. A namespace left behind by a killed test
//! run is removed by [`cleanup_stale_namespaces`] once its creator process is gone.

use crate::error::{Context, LabError, Result};
use crate::process::run_with_timeout;
use crate::{LOOPBACK_PREFIX, UNDERLAY_PREFIX};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Prefix of every namespace the lab creates.
pub const NAME_PREFIX: &str = "evl-";
/// Where `ip netns` keeps its namespace handles.
const NETNS_RUN_DIR: &str = "/run/netns";
/// Bound on one `ip` invocation.
const IP_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by this process, deleted (best effort) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    deleted: bool,
}

impl Netns {
    /// Creates a namespace with a fresh unique name and brings its `lo` up.
    pub fn new() -> Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Netns::named(&format!("{NAME_PREFIX}{}-{n}", std::process::id()))
    }

    /// Creates a namespace called exactly `name` (an error if it exists) and brings its `lo`
    /// up. For names a user types (`evpnd demo`); tests use [`Netns::new`].
    pub fn named(name: &str) -> Result<Netns> {
        run_with_timeout(Command::new("ip").args(["netns", "add", name]), IP_TIMEOUT)
            .context(format!("creating the network namespace {name}"))?;
        let ns = Netns {
            name: name.to_string(),
            deleted: false,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when a namespace called `name` exists.
    pub fn exists(name: &str) -> bool {
        std::path::Path::new(NETNS_RUN_DIR).join(name).exists()
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`).
    /// `ip netns exec` execs the program, so the child's pid is the program's.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Starts a long-running `program ARGS…` inside the namespace with stdout and stderr
    /// appended to `log`; the returned [`Daemon`](crate::Daemon) stops it when dropped. This is how a test
    /// runs evpnd (or any daemon without a dedicated launcher) as a lab peer.
    pub fn spawn_daemon(
        &self,
        name: &str,
        program: &str,
        args: &[&str],
        log: &std::path::Path,
    ) -> Result<crate::process::Daemon> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .context(format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = self.command(program);
        cmd.args(args)
            .stdout(std::process::Stdio::from(out))
            .stderr(std::process::Stdio::from(err));
        crate::process::Daemon::spawn(name, &mut cmd)
    }

    /// Runs `args` (program first) inside the namespace, bounded to 30 s; returns stdout.
    pub fn exec(&self, args: &[&str]) -> Result<String> {
        let (prog, rest) = args
            .split_first()
            .ok_or_else(|| LabError::new("exec: empty command"))?;
        run_with_timeout(self.command(prog).args(rest), IP_TIMEOUT)
    }

    /// Runs `ip -n NAME ARGS…`, bounded to 30 s; returns stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run_with_timeout(
            Command::new("ip").args(["-n", &self.name]).args(args),
            IP_TIMEOUT,
        )
        .context(format!("in namespace {}", self.name))
    }

    /// Runs `f` on a thread that has entered this namespace and returns its result.
    ///
    /// Sockets created by `f` live in the namespace and can then be used from any thread,
    /// which is how raw test speakers listen or connect inside a lab without a helper process.
    pub fn within<R: Send, F: FnOnce() -> R + Send>(&self, f: F) -> Result<R> {
        let path = format!("{NETNS_RUN_DIR}/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| -> Result<R> {
                let file = std::fs::File::open(&path).context(format!("opening {path}"))?;
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&file),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| LabError::new(format!("setns({path}): {e}")))?;
                Ok(f())
            })
            .join()
            .map_err(|_| LabError::new("thread inside the namespace panicked"))?
        })
    }

    /// Deletes the namespace now, reporting failure (drop does the same silently).
    pub fn delete(mut self) -> Result<()> {
        self.deleted = true;
        delete_namespace(&self.name)
    }
}

fn delete_namespace(name: &str) -> Result<()> {
    run_with_timeout(Command::new("ip").args(["netns", "del", name]), IP_TIMEOUT).map(|_| ())
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.deleted {
            // Best effort; never panic in drop. Processes still inside keep the namespace
            // alive until they exit, but the name is released.
            let _ = delete_namespace(&self.name);
        }
    }
}

/// Deletes every namespace whose name starts with `prefix` (whoever created it) and returns
/// the names deleted; for a tool that owns a name prefix, such as `evpnd demo`, to remove what
/// a killed earlier run left.
pub fn delete_namespaces_with_prefix(prefix: &str) -> Result<Vec<String>> {
    if prefix.is_empty() {
        return Err(LabError::new("refusing to delete every namespace"));
    }
    let Ok(dir) = std::fs::read_dir(NETNS_RUN_DIR) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) {
            delete_namespace(&name)?;
            removed.push(name);
        }
    }
    removed.sort();
    Ok(removed)
}

/// Names of the namespaces that exist now whose name starts with `prefix`.
pub fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(NETNS_RUN_DIR)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Deletes `evl-PID-N` namespaces whose creating process no longer exists (left behind by a
/// test run that was killed). Returns the names deleted. Namespaces of live processes,
/// including other concurrent test runs, are never touched.
pub fn cleanup_stale_namespaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_RUN_DIR) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            && delete_namespace(&name).is_ok()
        {
            removed.push(name);
        }
    }
    removed
}

/// One host of a [`Lab`]: a namespace with a /32 loopback 198.19.0.N on `lo` and, once the
/// lab is connected, 198.18.0.N/24 on `lan0`.
#[derive(Debug)]
pub struct Host {
    index: u8,
    label: String,
    netns: Netns,
    underlay: Option<Ipv4Addr>,
}

impl Host {
    /// The host number N (1-based), which fixes its addresses.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The label given to [`Lab::new`].
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The host's namespace.
    pub fn ns(&self) -> &Netns {
        &self.netns
    }

    /// The loopback (VTEP / router id) address 198.19.0.N.
    pub fn loopback(&self) -> Ipv4Addr {
        let [a, b, c] = LOOPBACK_PREFIX;
        Ipv4Addr::new(a, b, c, self.index)
    }

    /// The underlay address 198.18.0.N on `lan0`, once connected.
    pub fn underlay(&self) -> Option<Ipv4Addr> {
        self.underlay
    }

    /// Adds `cidr` (e.g. "198.18.0.10/24") to interface `dev`.
    pub fn add_address(&self, dev: &str, cidr: &str) -> Result<()> {
        self.netns
            .ip(&["addr", "add", cidr, "dev", dev])
            .map(|_| ())
    }
}

/// Several hosts, optionally joined by one underlay segment. Dropping the lab deletes every
/// namespace it created; drop the daemons running in it first (declare them after the lab).
#[derive(Debug)]
pub struct Lab {
    hosts: Vec<Host>,
    fabric: Option<Netns>,
}

/// Name of the underlay interface in every host.
pub const LAN_IF: &str = "lan0";

impl Lab {
    /// Creates one namespace per label: host N (1-based) gets loopback 198.19.0.N/32 on `lo`.
    /// Stale namespaces of dead test runs are removed first.
    pub fn new(labels: &[&str]) -> Result<Lab> {
        if labels.is_empty() || labels.len() > 250 {
            return Err(LabError::new("a lab has 1 to 250 hosts"));
        }
        let _ = cleanup_stale_namespaces();
        let mut hosts = Vec::with_capacity(labels.len());
        for (i, label) in labels.iter().enumerate() {
            let index = u8::try_from(i + 1).map_err(|_| LabError::new("too many hosts"))?;
            let netns = Netns::new()?;
            let host = Host {
                index,
                label: (*label).to_string(),
                netns,
                underlay: None,
            };
            host.add_address("lo", &format!("{}/32", host.loopback()))?;
            hosts.push(host);
        }
        Ok(Lab {
            hosts,
            fabric: None,
        })
    }

    /// All hosts, in creation order (host N is at index N-1).
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host with `label`.
    pub fn host(&self, label: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.label == label)
    }

    /// Puts every host on one segment: `lan0` with 198.18.0.N/24, up, and a /32 route to
    /// every other host's loopback via its underlay address. Two hosts are joined by a veth
    /// pair; three or more through a bridge in an extra namespace.
    pub fn connect_lan(&mut self) -> Result<()> {
        if self.hosts.len() == 2 {
            let (a, b) = (&self.hosts[0], &self.hosts[1]);
            a.netns.ip(&[
                "link",
                "add",
                LAN_IF,
                "type",
                "veth",
                "peer",
                "name",
                LAN_IF,
                "netns",
                b.netns.name(),
            ])?;
        } else {
            let fabric = Netns::new()?;
            fabric.ip(&["link", "add", "br0", "type", "bridge"])?;
            fabric.ip(&["link", "set", "br0", "up"])?;
            for h in &self.hosts {
                let port = format!("p{}", h.index);
                fabric.ip(&[
                    "link",
                    "add",
                    &port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    LAN_IF,
                    "netns",
                    h.netns.name(),
                ])?;
                fabric.ip(&["link", "set", &port, "master", "br0", "up"])?;
            }
            self.fabric = Some(fabric);
        }
        let [a, b, c] = UNDERLAY_PREFIX;
        for h in &mut self.hosts {
            let addr = Ipv4Addr::new(a, b, c, h.index);
            h.add_address(LAN_IF, &format!("{addr}/24"))?;
            h.netns.ip(&["link", "set", LAN_IF, "up"])?;
            h.underlay = Some(addr);
        }
        for h in &self.hosts {
            for o in &self.hosts {
                if o.index != h.index {
                    let via = o.underlay.map(|a| a.to_string()).unwrap_or_default();
                    h.netns
                        .ip(&["route", "add", &format!("{}/32", o.loopback()), "via", &via])?;
                }
            }
        }
        Ok(())
    }

    /// Adds a veth pair between hosts `a` and `b` (0-based positions) with interface names
    /// `a_if` / `b_if`, both up, no addresses (see [`Host::add_address`]).
    pub fn link(&self, a: usize, b: usize, a_if: &str, b_if: &str) -> Result<()> {
        let (ha, hb) = match (self.hosts.get(a), self.hosts.get(b)) {
            (Some(x), Some(y)) if a != b => (x, y),
            _ => return Err(LabError::new(format!("no such host pair {a}, {b}"))),
        };
        ha.netns.ip(&[
            "link",
            "add",
            a_if,
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            hb.netns.name(),
        ])?;
        ha.netns.ip(&["link", "set", a_if, "up"])?;
        hb.netns.ip(&["link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Names of every namespace of the lab (hosts and fabric), e.g. to check they are gone.
    pub fn namespace_names(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|h| h.netns.name().to_string())
            .chain(self.fabric.iter().map(|f| f.name().to_string()))
            .collect()
    }
}
