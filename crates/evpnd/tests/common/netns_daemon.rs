//! evpnd running inside a lab network namespace (`ip netns exec NS evpnd --config FILE`).
//!
//! The API socket lives on the shared filesystem, so the test process (in the root namespace)
//! queries the daemon's gRPC API over the unix socket while the daemon's BGP sockets live in the
//! namespace. Only the pid we started is ever signalled.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::{wait_until, TempDir};
use evpnd_api::v1;
use evpnd_lab::fabric::evpnd::EvpndProcess;
use evpnd_lab::Netns;
use std::path::PathBuf;
use std::time::Duration;

/// One evpnd process in a namespace (the lab's [`EvpndProcess`]), restartable with the same
/// configuration; it panics where the lab returns errors.
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
    process: EvpndProcess,
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
        let process = EvpndProcess::prepare(ns, name, dir.path(), config).unwrap();
        let mut d = NsDaemon {
            name: name.into(),
            netns: ns.name().into(),
            api: process.api(),
            config: process.config(),
            log: process.log(),
            process,
            _dir: dir,
        };
        d.spawn();
        d
    }

    /// (Re)starts the process with the same configuration and waits for its API.
    pub fn spawn(&mut self) {
        self.process
            .spawn(
                std::path::Path::new(env!("CARGO_BIN_EXE_evpnd")),
                "debug,h2=info,hyper=info,hyper_util=info,tower=info,tonic=info",
                Duration::from_secs(15),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Kills the process with SIGKILL (no NOTIFICATION, no clean close by evpnd itself) and
    /// reaps it.
    pub fn kill_hard(&mut self) {
        self.process.kill_hard();
    }

    /// Stops the process (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(&mut self) {
        self.process.stop();
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

impl NsDaemon {
    /// Like [`NsDaemon::start`], but a daemon that does not come up is an error (with the
    /// end of its log) instead of a panic, so that a caller can say which feature it needed.
    pub fn try_start(ns: &Netns, name: &str, config: &str) -> Result<NsDaemon, String> {
        let dir = TempDir::new(name).map_err(|e| e.0)?;
        let mut process = EvpndProcess::prepare(ns, name, dir.path(), config).map_err(|e| e.0)?;
        process
            .spawn(
                std::path::Path::new(env!("CARGO_BIN_EXE_evpnd")),
                "debug,h2=info,hyper=info,hyper_util=info,tower=info,tonic=info",
                Duration::from_secs(15),
            )
            .map_err(|e| e.0)?;
        Ok(NsDaemon {
            name: name.into(),
            netns: ns.name().into(),
            api: process.api(),
            config: process.config(),
            log: process.log(),
            process,
            _dir: dir,
        })
    }
}
