//! The route reflector under test of a session-scale run, on loopback in the current network
//! namespace (no root needed for evpnd): its configuration (evpnd from
//! `bench/evpnd-rr-scale.toml.tmpl`, one passive `[[neighbor]]` per session or one
//! `[[peer-group]]` with a listen range; FRR 8.4 with `bgp listen range` and a peer group),
//! starting and stopping it, raising file-descriptor limits, and reading its memory and CPU
//! time from /proc.

use super::plan::Layout;
use crate::error::{Context, LabError, Result};
use crate::frr::{instance_dir, remove_instance_dir, tail};
use crate::process::{run_with_timeout, Daemon};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The evpnd configuration template of the benchmark (also in bench/).
pub const EVPND_RR_TEMPLATE: &str = include_str!("../../../../bench/evpnd-rr-scale.toml.tmpl");
/// The FRR configuration template of the benchmark (also in bench/).
pub const FRR_RR_TEMPLATE: &str = include_str!("../../../../bench/frr-rr-scale.conf.tmpl");
/// The route reflector's BGP identifier and cluster id.
pub const DUT_ROUTER_ID: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);
/// The address the route reflector listens on.
pub const DUT_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// The listen range of the dynamic-neighbour form: every session address.
pub const LISTEN_RANGE: &str = "127.64.0.0/10";

/// How evpnd learns its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighborForm {
    /// One passive `[[neighbor]]` per session address.
    Explicit,
    /// One `[[peer-group]]` with `listen-range = ["127.64.0.0/10"]` (dynamic neighbours).
    PeerGroup,
}

/// Renders the evpnd configuration from `template` for `sessions` sessions: `{LOCAL_AS}`,
/// `{ROUTER_ID}`, `{LISTEN}`, `{WORKDIR}`, `{API_SOCKET}` and `{PEERS}` (the neighbours in
/// `form`).
pub fn evpnd_config(
    template: &str,
    sessions: usize,
    asn: u32,
    listen: SocketAddr,
    workdir: &Path,
    form: NeighborForm,
) -> String {
    let peers = match form {
        NeighborForm::Explicit => {
            let mut s = String::with_capacity(sessions * 160);
            for t in 0..sessions as u32 {
                s.push_str(&format!(
                    "[[neighbor]]\naddress = \"{}\"\nremote-asn = {asn}\npassive = true\n\
                     route-reflector-client = true\nfamilies = [\"l2vpn-evpn\", \"rt-constraint\"]\n\n",
                    Layout::source(t)
                ));
            }
            s
        }
        NeighborForm::PeerGroup => format!(
            "[[peer-group]]\nname = \"nves\"\nlisten-range = [\"{LISTEN_RANGE}\"]\n\
             remote-asn = \"internal\"\nlimit = {}\nroute-reflector-client = true\n\
             families = [\"l2vpn-evpn\", \"rt-constraint\"]\n",
            sessions.max(1)
        ),
    };
    template
        .replace("{PEERS}", &peers)
        .replace("{LOCAL_AS}", &asn.to_string())
        .replace("{ROUTER_ID}", &DUT_ROUTER_ID.to_string())
        .replace("{LISTEN}", &listen.to_string())
        .replace("{WORKDIR}", &workdir.display().to_string())
        .replace(
            "{API_SOCKET}",
            &workdir.join("api.sock").display().to_string(),
        )
}

/// Renders the FRR bgpd.conf from `template`: `{LOCAL_AS}`, `{ROUTER_ID}`,
/// `{LISTEN_RANGE}` and `{LISTEN_LIMIT}`.
pub fn frr_config(template: &str, sessions: usize, asn: u32) -> String {
    template
        .replace("{LOCAL_AS}", &asn.to_string())
        .replace("{ROUTER_ID}", &DUT_ROUTER_ID.to_string())
        .replace("{LISTEN_RANGE}", LISTEN_RANGE)
        .replace("{LISTEN_LIMIT}", &sessions.clamp(1, 65535).to_string())
}

/// Raises this process's open-file limit to at least `want` (the soft limit up to the hard
/// one; the hard one too when allowed, i.e. as root). Children started afterwards inherit
/// it. Returns the soft limit now in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    let soft = cur.current.unwrap_or(u64::MAX);
    if soft >= want {
        return soft;
    }
    let hard = cur.maximum.unwrap_or(u64::MAX);
    if hard < want {
        let both = Rlimit {
            current: Some(want),
            maximum: Some(want),
        };
        if setrlimit(Resource::Nofile, both).is_ok() {
            return want;
        }
    }
    let new = Rlimit {
        current: Some(want.min(hard)),
        maximum: cur.maximum,
    };
    match setrlimit(Resource::Nofile, new) {
        Ok(()) => want.min(hard),
        Err(_) => soft,
    }
}

/// CPU time (user + system) of process `pid` in seconds, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// A free TCP port on `ip` (bound once and released).
pub fn free_port(ip: Ipv4Addr) -> Result<u16> {
    Ok(TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// What to run as the route reflector.
#[derive(Clone, Debug)]
pub enum ScaleDut {
    /// evpnd: the binary, the config template and how neighbours are configured.
    Evpnd {
        /// The evpnd binary.
        binary: PathBuf,
        /// The configuration template ([`EVPND_RR_TEMPLATE`] by default).
        template: String,
        /// Explicit neighbours or a peer group.
        form: NeighborForm,
    },
    /// FRR 8.4 bgpd (`-Z`: pure BGP), dynamic neighbours from the listen range (needs root).
    Frr {
        /// The bgpd.conf template ([`FRR_RR_TEMPLATE`] by default).
        template: String,
    },
    /// A DUT started by someone else: where it listens and, for memory figures, its pid.
    External {
        /// Its address.
        addr: SocketAddr,
        /// Its process.
        pid: Option<u32>,
    },
}

impl ScaleDut {
    /// Short name for reports.
    pub fn name(&self) -> String {
        match self {
            ScaleDut::Evpnd { form, .. } => match form {
                NeighborForm::Explicit => "evpnd".into(),
                NeighborForm::PeerGroup => "evpnd (peer-group)".into(),
            },
            ScaleDut::Frr { .. } => "frr".into(),
            ScaleDut::External { .. } => "external".into(),
        }
    }

    /// True when the DUT implements RT-Constraint (FRR 8.4 does not: RFC 4684 is missing).
    pub fn has_rtc(&self) -> bool {
        !matches!(self, ScaleDut::Frr { .. })
    }

    /// Starts the DUT for `sessions` sessions in AS `asn`, with room for `fds` open files,
    /// and waits (bounded) until it accepts connections.
    pub fn start(&self, sessions: usize, asn: u32, fds: u64) -> Result<RunningScaleDut> {
        raise_fd_limit(fds);
        match self {
            ScaleDut::External { addr, pid } => Ok(RunningScaleDut {
                addr: *addr,
                pid: *pid,
                daemon: None,
                dir: None,
                log: PathBuf::new(),
            }),
            ScaleDut::Evpnd {
                binary,
                template,
                form,
            } => {
                let dir = instance_dir("scale-evpnd")?;
                let addr = SocketAddr::from((DUT_ADDR, free_port(DUT_ADDR)?));
                let conf = dir.join("evpnd.toml");
                std::fs::write(
                    &conf,
                    evpnd_config(template, sessions, asn, addr, &dir, *form),
                )?;
                let log = dir.join("daemon.log");
                let out = std::fs::File::create(&log)?;
                let err = out.try_clone()?;
                let mut cmd = Command::new(binary);
                cmd.arg("--config")
                    .arg(&conf)
                    .stdout(Stdio::from(out))
                    .stderr(Stdio::from(err));
                let daemon = Daemon::spawn("evpnd", &mut cmd)?;
                let mut dut = RunningScaleDut {
                    addr,
                    pid: Some(daemon.pid()),
                    daemon: Some(daemon),
                    dir: Some(dir),
                    log,
                };
                dut.wait_listening(Duration::from_secs(60))?;
                Ok(dut)
            }
            ScaleDut::Frr { template } => {
                let dir = instance_dir("scale-frr")?;
                let port = free_port(DUT_ADDR)?;
                let addr = SocketAddr::from((DUT_ADDR, port));
                std::fs::write(dir.join("bgpd.conf"), frr_config(template, sessions, asn))?;
                run_with_timeout(
                    Command::new("chown").args(["-R", "frr:frr", &dir.display().to_string()]),
                    Duration::from_secs(10),
                )
                .context("chown of the FRR directory (is the frr package installed? root?)")?;
                let d = dir.display().to_string();
                let log = dir.join("bgpd.log");
                let out = std::fs::File::create(dir.join("bgpd.stdout"))?;
                let err = out.try_clone()?;
                let mut cmd = Command::new(format!("{}/bgpd", crate::frr::FRR_BIN_DIR));
                cmd.args([
                    "-Z",
                    "-p",
                    &port.to_string(),
                    "-l",
                    &DUT_ADDR.to_string(),
                    "--limit-fds",
                    &fds.to_string(),
                    "-P",
                    "0",
                    "-z",
                    &format!("{d}/zserv.api"),
                    "--vty_socket",
                    &d,
                    "-f",
                    &format!("{d}/bgpd.conf"),
                    "-i",
                    &format!("{d}/bgpd.pid"),
                    "--log",
                    &format!("file:{d}/bgpd.log"),
                ])
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err));
                let daemon = Daemon::spawn("bgpd", &mut cmd)?;
                let mut dut = RunningScaleDut {
                    addr,
                    pid: Some(daemon.pid()),
                    daemon: Some(daemon),
                    dir: Some(dir),
                    log,
                };
                dut.wait_listening(Duration::from_secs(30))?;
                Ok(dut)
            }
        }
    }
}

/// A running DUT; dropping it stops the process we started (by pid) and removes its
/// directory (kept with `EVPND_LAB_KEEP=1`).
pub struct RunningScaleDut {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process, when known.
    pub pid: Option<u32>,
    daemon: Option<Daemon>,
    dir: Option<PathBuf>,
    log: PathBuf,
}

impl RunningScaleDut {
    fn wait_listening(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.daemon.as_mut() {
                if !d.is_running() {
                    return Err(LabError::new(format!(
                        "the DUT exited: {}",
                        tail(&self.log, 20)
                    )));
                }
            }
            // A plain connection from an address outside the range: refused after accept,
            // which is all this checks.
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::new(format!(
                    "the DUT does not listen on {} after {timeout:?}: {}",
                    self.addr,
                    tail(&self.log, 20)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True while the DUT's process runs (always true for an external DUT without a pid).
    pub fn is_running(&mut self) -> bool {
        match (&mut self.daemon, self.pid) {
            (Some(d), _) => d.is_running(),
            (None, Some(p)) => crate::process::is_alive(p),
            (None, None) => true,
        }
    }

    /// The end of the DUT's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for RunningScaleDut {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop(Duration::from_secs(10));
        }
        if let Some(dir) = self.dir.take() {
            remove_instance_dir(&dir);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn both_neighbor_forms_render_and_parse_as_toml() {
        let listen: SocketAddr = "127.0.0.1:1790".parse().unwrap();
        let dir = Path::new("/tmp/x");
        let e = evpnd_config(
            EVPND_RR_TEMPLATE,
            3,
            65000,
            listen,
            dir,
            NeighborForm::Explicit,
        );
        let v: toml::Value = toml::from_str(&e).unwrap();
        let n = v["neighbor"].as_array().unwrap();
        assert_eq!(n.len(), 3);
        assert_eq!(n[2]["address"].as_str(), Some("127.64.0.3"));
        assert_eq!(n[0]["passive"].as_bool(), Some(true));
        assert_eq!(v["bgp"]["listen"].as_str(), Some("127.0.0.1:1790"));
        let g = evpnd_config(
            EVPND_RR_TEMPLATE,
            10_000,
            65000,
            listen,
            dir,
            NeighborForm::PeerGroup,
        );
        let v: toml::Value = toml::from_str(&g).unwrap();
        let pg = &v["peer-group"].as_array().unwrap()[0];
        assert_eq!(pg["listen-range"][0].as_str(), Some("127.64.0.0/10"));
        assert_eq!(pg["remote-asn"].as_str(), Some("internal"));
        assert_eq!(pg["limit"].as_integer(), Some(10_000));
        assert!(v.get("neighbor").is_none());
        let f = frr_config(FRR_RR_TEMPLATE, 500, 65000);
        assert!(
            f.contains("bgp listen range 127.64.0.0/10 peer-group NVES"),
            "{f}"
        );
        assert!(f.contains("bgp listen limit 500"), "{f}");
    }

    #[test]
    fn cpu_time_of_this_process_is_readable() {
        assert!(cpu_seconds(std::process::id()).is_some());
        assert!(raise_fd_limit(64) >= 64);
    }
}
