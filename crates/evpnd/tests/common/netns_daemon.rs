//! evpnd running inside a lab network namespace (`ip netns exec NS evpnd --config FILE`).
//!
//! The API socket lives on the shared filesystem, so the test process (in the root namespace)
//! queries the daemon's gRPC API over the unix socket while the daemon's BGP sockets live in the
//! namespace. Only the pid we started is ever signalled.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::{connect, rt, wait_until, TempDir};
use evpnd_api::v1;
use evpnd_lab::{Daemon, Netns};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One evpnd process in a namespace, restartable with the same configuration.
pub struct NsDaemon {
    /// A name for messages.
    pub name: String,
    /// The namespace it runs in.
    pub netns: String,
    /// The API socket.
    pub api: PathBuf,
    /// The configuration file.
    pub config: PathBuf,
    /// stderr of every run, appended.
    pub log: PathBuf,
    process: Option<Daemon>,
    _dir: TempDir,
}

impl NsDaemon {
    /// Writes `config` (plus an `[api]` section on a socket in a scratch directory), starts
    /// evpnd in `ns` and waits (bounded) for its API to answer.
    ///
    /// The daemon's `bgp.state-dir` is its scratch directory: the marker a SIGKILL leaves
    /// behind (which makes the next start a graceful restart) stays private to this daemon and
    /// is removed with it. `config` must not set `state-dir` itself.
    pub fn start(ns: &Netns, name: &str, config: &str) -> NsDaemon {
        let dir = TempDir::new(name).unwrap();
        let api = dir.path().join("api.sock");
        let cfg = dir.path().join("evpnd.toml");
        let state = format!("state-dir = \"{}\"\n", dir.path().display());
        let config = match config.find("[bgp]\n") {
            Some(i) => format!("{}[bgp]\n{state}{}", &config[..i], &config[i + 6..]),
            None => format!("{config}\n[bgp]\n{state}"),
        };
        std::fs::write(
            &cfg,
            format!("{config}\n[api]\nlisten = \"unix:{}\"\n", api.display()),
        )
        .unwrap();
        let mut d = NsDaemon {
            name: name.into(),
            netns: ns.name().into(),
            api,
            config: cfg,
            log: dir.path().join("evpnd.log"),
            process: None,
            _dir: dir,
        };
        d.spawn();
        d
    }

    /// (Re)starts the process with the same configuration and waits for its API.
    pub fn spawn(&mut self) {
        assert!(self.process.is_none(), "{}: already running", self.name);
        let _ = std::fs::remove_file(&self.api);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, env!("CARGO_BIN_EXE_evpnd")])
            .arg("--config")
            .arg(&self.config)
            .env(
                "EVPND_LOG",
                "debug,h2=info,hyper=info,hyper_util=info,tower=info,tonic=info",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::from(out));
        self.process = Some(Daemon::spawn(self.name.clone(), &mut cmd).unwrap());
        let api = self.api.clone();
        let up = wait_until(Duration::from_secs(15), || {
            api.exists() && rt().block_on(async { connect(&api).await.is_ok() })
        });
        if up.is_err() {
            panic!(
                "{}: API did not come up; log:\n{}",
                self.name,
                self.log_tail(40)
            );
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Daemon::pid)
    }

    /// Kills the process with SIGKILL (no NOTIFICATION, no clean close by evpnd itself) and
    /// reaps it.
    pub fn kill_hard(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &p.pid().to_string()])
                .status();
            p.stop(Duration::from_secs(5));
        }
    }

    /// Stops the process (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop(Duration::from_secs(5));
        }
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let s = self.log_text();
        let v: Vec<&str> = s.lines().collect();
        v[v.len().saturating_sub(n)..].join("\n")
    }

    /// `ListNeighbors`.
    pub fn neighbors(&self) -> Vec<v1::Neighbor> {
        super::api_neighbors(&self.api)
    }

    /// The neighbour with address `addr`.
    pub fn neighbor(&self, addr: &str) -> Option<v1::Neighbor> {
        self.neighbors().into_iter().find(|n| n.address == addr)
    }

    /// True when neighbour `addr` is Established.
    pub fn established(&self, addr: &str) -> bool {
        self.neighbor(addr)
            .is_some_and(|n| n.state == "Established")
    }

    /// Waits (bounded by `timeout`) until neighbour `addr` is Established, panicking with the
    /// log otherwise.
    pub fn wait_established(&self, addr: &str, timeout: Duration) {
        if wait_until(timeout, || self.established(addr)).is_err() {
            panic!(
                "{}: neighbour {addr} not Established within {timeout:?}: {:?}\n{}",
                self.name,
                self.neighbor(addr),
                self.log_tail(40)
            );
        }
    }

    /// `ListRoutes` for EVPN.
    pub fn evpn_routes(&self) -> Vec<v1::RibEntry> {
        super::api_routes(&self.api, "l2vpn-evpn")
    }

    /// `ListRoutes` for every family.
    pub fn all_routes(&self) -> Vec<v1::RibEntry> {
        super::api_routes(&self.api, "")
    }
}

impl super::EvpnApi for NsDaemon {
    fn api_socket(&self) -> &std::path::Path {
        &self.api
    }
}

impl Drop for NsDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}
