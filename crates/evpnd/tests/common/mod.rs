//! Shared fixtures for evpnd's integration tests: start real evpnd processes with a given
//! configuration, query their gRPC API, wait for conditions with a bound, and clean up (kill
//! only the processes we started, by pid).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod kernel_fabric;
pub mod l3;
pub mod metrics;
pub mod netns_daemon;

use evpnd_api::v1;
use evpnd_api::v1::evpnd_client::EvpndClient;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// A scratch directory removed on drop (the lab's one).
pub use evpnd_lab::TempDir;

/// A free TCP port on `ip` (bound once and released; good enough for tests on loopback).
pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running evpnd process.
pub struct Daemon {
    pub name: String,
    pub child: Option<Child>,
    pub api: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Daemon {
    /// Starts evpnd with `config` (an `[api]` section pointing at a socket in a temp dir is
    /// appended) and waits for its API to answer.
    pub fn start(name: &str, config: &str) -> Daemon {
        let dir = TempDir::new(name).unwrap();
        let api = dir.path().join("api.sock");
        let cfg_path = dir.path().join("evpnd.toml");
        // A private state directory (restart marker, endpoint journal) unless the test sets
        // one: tests that share a router id must not share that state.
        let config = if config.contains("state-dir") {
            config.to_string()
        } else {
            let state = format!("state-dir = \"{}\"\n", dir.path().display());
            match config.find("[bgp]\n") {
                Some(i) => format!("{}[bgp]\n{state}{}", &config[..i], &config[i + 6..]),
                None => format!("{config}\n[bgp]\n{state}"),
            }
        };
        std::fs::write(
            &cfg_path,
            format!("{config}\n[api]\nlisten = \"unix:{}\"\n", api.display()),
        )
        .unwrap();
        let log = dir.path().join("evpnd.log");
        let mut d = Daemon {
            name: name.into(),
            child: None,
            api,
            config: cfg_path,
            log,
            _dir: dir,
        };
        d.spawn();
        d
    }

    /// (Re)starts the process with the same configuration.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_evpnd"))
            .arg("--config")
            .arg(&self.config)
            .env("EVPND_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let api = self.api.clone();
        wait_until(Duration::from_secs(10), || {
            rt().block_on(async { connect(&api).await.is_ok() })
        })
        .unwrap_or_else(|_| {
            panic!(
                "{}: API did not come up; log:\n{}",
                self.name,
                self.log_text()
            )
        });
    }

    /// Kills the process with `signal` and reaps it.
    pub fn kill(&mut self, signal: i32) {
        if let Some(mut c) = self.child.take() {
            // Only our own child, by pid.
            let pid = c.id() as i32;
            unsafe_free_kill(pid, signal);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` without reaping (e.g. SIGSTOP / SIGCONT).
    pub fn signal(&self, signal: i32) {
        if let Some(c) = &self.child {
            unsafe_free_kill(c.id() as i32, signal);
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ListNeighbors`.
    pub fn neighbors(&self) -> Vec<v1::Neighbor> {
        api_neighbors(&self.api)
    }

    /// `ListRoutes` for EVPN.
    pub fn evpn_routes(&self) -> Vec<v1::RibEntry> {
        api_routes(&self.api, "l2vpn-evpn")
    }

    /// True when every neighbour is Established.
    pub fn all_established(&self) -> bool {
        let n = self.neighbors();
        !n.is_empty() && n.iter().all(|x| x.state == "Established")
    }
}

/// The evpnctl binary of this build (built first when a partial build left it out).
pub fn evpnctl_binary() -> std::path::PathBuf {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_evpnd")).with_file_name("evpnctl");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "evpnctl"])
            .status()
            .unwrap();
        assert!(status.success(), "cannot build evpnctl");
    }
    binary
}

impl Daemon {
    /// Runs evpnctl against this daemon's API: its exit code and standard output.
    pub fn evpnctl_status(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(evpnctl_binary())
            .arg("--api")
            .arg(format!("unix:{}", self.api.display()))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Runs evpnctl against this daemon's API and returns its output; panics when it fails.
    pub fn evpnctl(&self, args: &[&str]) -> String {
        let (code, out) = self.evpnctl_status(args);
        assert_eq!(code, 0, "evpnctl {args:?} exited {code}: {out}");
        out
    }
}

impl EvpnApi for Daemon {
    fn api_socket(&self) -> &std::path::Path {
        &self.api
    }
}

/// The EVPN engine's API calls, for every kind of test daemon (loopback [`Daemon`] and
/// `netns_daemon::NsDaemon`): implementors only name their API socket.
pub trait EvpnApi {
    /// The daemon's API socket.
    fn api_socket(&self) -> &std::path::Path;

    /// A gRPC call against this daemon: `f` gets a fresh client.
    fn call<T, F, Fut>(&self, f: F) -> Result<T, tonic::Status>
    where
        F: FnOnce(EvpndClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        evpnd_lab::fabric::evpnd::call(self.api_socket(), f)
    }

    /// `ListVnis`, every page.
    fn vnis(&self) -> v1::ListVnisResponse {
        evpnd_lab::fabric::evpnd::list_vnis(self.api_socket()).unwrap()
    }

    /// `ListMacs` (`vni` 0: every VNI), every page.
    fn macs(&self, vni: u32) -> Vec<v1::MacEntry> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self
                .call(|mut c| async move {
                    c.list_macs(v1::ListMacsRequest {
                        vni,
                        page_size: 10_000,
                        page_token,
                    })
                    .await
                })
                .unwrap();
            out.extend(r.macs);
            if r.next_page_token.is_empty() {
                return out;
            }
            page_token = r.next_page_token;
        }
    }

    /// `ListFlood` (`vni` 0: every VNI), every page.
    fn flood(&self, vni: u32) -> Vec<v1::FloodList> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self
                .call(|mut c| async move {
                    c.list_flood(v1::ListFloodRequest {
                        vni,
                        page_size: 10_000,
                        page_token,
                    })
                    .await
                })
                .unwrap();
            out.extend(r.lists);
            if r.next_page_token.is_empty() {
                return out;
            }
            page_token = r.next_page_token;
        }
    }

    /// `ListArp` (`vni` 0: every VNI), every page.
    fn arp(&self, vni: u32) -> Vec<v1::NeighborEntry> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self
                .call(|mut c| async move {
                    c.list_arp(v1::ListArpRequest {
                        vni,
                        page_size: 10_000,
                        page_token,
                    })
                    .await
                })
                .unwrap();
            out.extend(r.neighbors);
            if r.next_page_token.is_empty() {
                return out;
            }
            page_token = r.next_page_token;
        }
    }

    /// `ListDataplane`.
    fn dataplane(&self) -> Result<v1::ListDataplaneResponse, tonic::Status> {
        self.call(|mut c| async move { c.list_dataplane(v1::ListDataplaneRequest {}).await })
    }

    /// `Explain` of `mac` (or, when it parses as an IP, that IP) in `vni`.
    fn explain(&self, vni: u32, subject: &str) -> Result<v1::ExplainResponse, tonic::Status> {
        let is_ip = subject.parse::<std::net::IpAddr>().is_ok();
        let req = v1::ExplainRequest {
            vni,
            mac: if is_ip { String::new() } else { subject.into() },
            ip: if is_ip { subject.into() } else { String::new() },
            ..Default::default()
        };
        self.call(|mut c| async move { c.explain(req).await })
    }

    /// `AttachEndpoint` (`ip` "" for none).
    fn attach(&self, req: v1::AttachEndpointRequest) -> Result<(), tonic::Status> {
        self.call(|mut c| async move { c.attach_endpoint(req).await })
            .map(|_| ())
    }

    /// `DetachEndpoint` of `mac` (and `ip`, "" for the whole MAC) in `vni`.
    fn detach(&self, vni: u32, mac: &str, ip: &str) -> Result<(), tonic::Status> {
        let req = v1::DetachEndpointRequest {
            vni,
            mac: mac.into(),
            ip: ip.into(),
        };
        self.call(|mut c| async move { c.detach_endpoint(req).await })
            .map(|_| ())
    }
}

/// An `AttachEndpointRequest` for a dynamic endpoint (`ip` "" for none).
pub fn endpoint(vni: u32, mac: &str, ip: &str) -> v1::AttachEndpointRequest {
    v1::AttachEndpointRequest {
        vni,
        mac: mac.into(),
        ip: ip.into(),
        ..Default::default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.kill(libc::SIGTERM);
    }
}

fn unsafe_free_kill(pid: i32, signal: i32) {
    // `kill` from the shell: no unsafe code in the tests either.
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// A single-threaded runtime for API calls from synchronous tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A gRPC client over the daemon's unix socket (the lab's).
pub use evpnd_lab::fabric::evpnd::connect;

/// `ListNeighbors` from the daemon whose API socket is `api`, every page.
pub fn api_neighbors(api: &std::path::Path) -> Vec<v1::Neighbor> {
    evpnd_lab::fabric::evpnd::list_neighbors(api).unwrap()
}

/// `ListRoutes` of `family` ("" for every family) from the daemon whose API socket is `api`,
/// every page.
pub fn api_routes(api: &std::path::Path, family: &str) -> Vec<v1::RibEntry> {
    let api = api.to_path_buf();
    let family = family.to_string();
    rt().block_on(async move {
        let mut c = connect(&api).await.unwrap();
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = c
                .list_routes(v1::ListRoutesRequest {
                    family: family.clone(),
                    page_size: 10_000,
                    page_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            out.extend(r.routes);
            if r.next_page_token.is_empty() {
                return out;
            }
            page_token = r.next_page_token;
        }
    })
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, cond: impl FnMut() -> bool) -> Result<(), String> {
    wait_until_every(timeout, Duration::from_millis(50), cond)
}

/// Polls `cond` every `interval` until it holds or `timeout` passes (a short interval for
/// measuring convergence times).
pub fn wait_until_every(
    timeout: Duration,
    interval: Duration,
    cond: impl FnMut() -> bool,
) -> Result<(), String> {
    evpnd_lab::wait_until(timeout, interval, cond).map_err(String::from)
}
