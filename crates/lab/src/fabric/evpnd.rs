//! evpnd on a [`Fabric`]: the tenant addressing, the configurations of the hosts (kernel data
//! plane, one session to the reflector) and of the route reflector, an evpnd process inside a
//! node's namespace, and a gRPC client over its unix socket.
//!
//! Shared by evpnd's kernel-fabric tests, its attach-latency benchmark and `evpnd demo`, so
//! that all three build the same fabric the same way.
//!
//! Tenant `tNvV` sits on host N (position N-1) in VNI V behind the host port `tNvV`, with MAC
//! `02:00:00:0X:0N:01` (X = 1 for VNI 100, 2 for VNI 200) and IP 192.0.2.(10+N)/24 in VNI 100,
//! 198.51.100.(10+N)/24 in VNI 200 (documentation ranges, RFC 5737).

use super::{socket_text, Fabric, Tenant, TenantSpec};
use crate::error::{Context, LabError, Result};
use crate::netns::Netns;
use crate::process::Daemon;
use crate::wait::wait_until;
use evpnd_api::v1;
use evpnd_api::v1::evpnd_client::EvpndClient;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// The fabric's AS: iBGP everywhere, through the route reflector.
pub const ASN: u32 = 65000;

/// The VNIs that have tenant addressing ([`tenant_spec`]).
pub const TENANT_VNIS: [u32; 2] = [100, 200];

/// The tenant of host position `pos` in `vni` (100 or 200; see the module documentation).
pub fn tenant_spec(pos: usize, vni: u32) -> Result<TenantSpec> {
    let n = pos
        .checked_add(1)
        .filter(|n| *n <= 9)
        .ok_or_else(|| LabError::new(format!("no tenant addressing for host position {pos}")))?;
    let label = format!("t{n}v{vni}");
    let (x, ip) = match vni {
        100 => (1, format!("192.0.2.{}/24", 10 + n)),
        200 => (2, format!("198.51.100.{}/24", 10 + n)),
        other => {
            return Err(LabError::new(format!(
                "no tenant addressing for VNI {other}"
            )))
        }
    };
    Ok(TenantSpec::new(
        &label,
        pos,
        vni,
        &format!("02:00:00:0{x}:0{n}:01"),
        &ip,
        &label,
    ))
}

/// The subnet of the tenants of `vni` (see [`tenant_spec`]).
pub fn tenant_subnet(vni: u32) -> Option<&'static str> {
    match vni {
        100 => Some("192.0.2.0/24"),
        200 => Some("198.51.100.0/24"),
        _ => None,
    }
}

/// `[[endpoint]]` for `t` with its interface (evpnd plugs the port into the VNI's bridge).
pub fn endpoint_config(t: &Tenant) -> String {
    format!(
        "[[endpoint]]\nvni = {}\nmac = \"{}\"\nip = \"{}\"\ninterface = \"{}\"\n",
        t.vni(),
        t.mac(),
        t.ip(),
        t.port()
    )
}

/// How the evpnd hosts of a fabric are configured.
#[derive(Clone, Debug, Default)]
pub struct HostOptions {
    /// Extra lines of `[evpn]`.
    pub evpn: String,
    /// Extra lines of `[dataplane]`.
    pub dataplane: String,
    /// Graceful restart (RFC 4724) on every session (hosts and reflector).
    pub graceful_restart: bool,
}

/// The neighbour lines that turn graceful restart on (RFC 4724), or nothing.
pub fn graceful_restart_lines(on: bool) -> &'static str {
    if on {
        "graceful-restart = true\nrestart-time = 60\n"
    } else {
        ""
    }
}

/// evpnd on host position `pos`: one session to the reflector, `[dataplane] kind = "linux"`,
/// the VNIs `vnis`, and `extra` appended (e.g. `[[endpoint]]` tables).
pub fn host_config(
    f: &Fabric,
    pos: usize,
    vnis: &[u32],
    o: &HostOptions,
    extra: &str,
) -> Result<String> {
    let h = f.host(pos)?;
    let rr = f
        .route_reflector()
        .ok_or_else(|| LabError::new("the fabric has no route reflector"))?
        .underlay();
    let mut s = format!(
        "asn = {ASN}\nrouter-id = \"{}\"\n[bgp]\nlisten = \"{}\"\nconnect-retry = 0.5\n\
         [[neighbor]]\naddress = \"{rr}\"\nremote-asn = {ASN}\n{}\
         [evpn]\nvtep = \"{}\"\n{}\n[dataplane]\nkind = \"linux\"\n{}\n",
        h.router_id(),
        socket_text(h.underlay(), 179),
        graceful_restart_lines(o.graceful_restart),
        h.underlay(),
        o.evpn,
        o.dataplane,
    );
    for v in vnis {
        s.push_str(&format!("[[vni]]\nvni = {v}\n"));
    }
    s.push_str(extra);
    Ok(s)
}

/// The route reflector (RFC 4456): evpnd without a data plane, the hosts at positions
/// `clients` its passive clients.
pub fn reflector_config(f: &Fabric, clients: &[usize], graceful_restart: bool) -> Result<String> {
    let rr = f
        .route_reflector()
        .ok_or_else(|| LabError::new("the fabric has no route reflector"))?;
    let mut s = format!(
        "asn = {ASN}\nrouter-id = \"{}\"\n[bgp]\nlisten = \"{}\"\nconnect-retry = 0.5\n",
        rr.router_id(),
        socket_text(rr.underlay(), 179)
    );
    for &c in clients {
        s.push_str(&format!(
            "[[neighbor]]\naddress = \"{}\"\nremote-asn = {ASN}\nroute-reflector-client = true\n\
             passive = true\n{}",
            f.host(c)?.underlay(),
            graceful_restart_lines(graceful_restart)
        ));
    }
    Ok(s)
}

/// A gRPC channel to the evpnd whose API listens on the unix socket `path` (any service).
pub async fn channel(path: &Path) -> std::result::Result<Channel, LabError> {
    let path = path.to_path_buf();
    Endpoint::from_static("http://[::1]:50051")
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let s = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
            }
        }))
        .await
        .map_err(|e| LabError::new(format!("connecting to the evpnd API: {e}")))
}

/// A gRPC client of the evpnd whose API listens on the unix socket `path`.
pub async fn connect(path: &Path) -> std::result::Result<EvpndClient<Channel>, LabError> {
    channel(path).await.map(EvpndClient::new)
}

/// `AttachEndpoint` for tenant `t` with its port: evpnd plugs the port into the VNI's bridge
/// and advertises the MAC/IP (RFC 7432 §9.2.1 route type 2).
pub fn attach_request(t: &Tenant) -> v1::AttachEndpointRequest {
    v1::AttachEndpointRequest {
        vni: t.vni(),
        mac: t.mac().into(),
        ip: t.ip().to_string(),
        interface: t.port().into(),
        ..Default::default()
    }
}

/// A single-threaded runtime for API calls from synchronous code.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime for API calls")
}

/// One gRPC call, from synchronous code, against the evpnd whose API socket is `api`: `f` gets
/// a fresh client. A connection failure comes back as `UNAVAILABLE`.
pub fn call<T, F, Fut>(api: &Path, f: F) -> std::result::Result<T, tonic::Status>
where
    F: FnOnce(EvpndClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
{
    let rt = runtime().map_err(|e| tonic::Status::internal(e.0))?;
    rt.block_on(async move {
        let c = connect(api)
            .await
            .map_err(|e| tonic::Status::unavailable(e.0))?;
        f(c).await.map(tonic::Response::into_inner)
    })
}

/// Every neighbour of the evpnd at `api` (`ListNeighbors`, page after page).
pub fn list_neighbors(api: &Path) -> std::result::Result<Vec<v1::Neighbor>, tonic::Status> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let r = call(api, |mut c| async move {
            c.list_neighbors(v1::ListNeighborsRequest {
                page_size: 0,
                page_token,
            })
            .await
        })?;
        out.extend(r.neighbors);
        if r.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = r.next_page_token;
    }
}

/// Every VNI of the evpnd at `api` with the engine status of the last page (`ListVnis`, page
/// after page, gathered into one answer).
pub fn list_vnis(api: &Path) -> std::result::Result<v1::ListVnisResponse, tonic::Status> {
    let mut vnis = Vec::new();
    let mut page_token = String::new();
    loop {
        let r = call(api, |mut c| async move {
            c.list_vnis(v1::ListVnisRequest {
                page_size: 0,
                page_token,
            })
            .await
        })?;
        vnis.extend(r.vnis);
        if r.next_page_token.is_empty() {
            return Ok(v1::ListVnisResponse {
                vnis,
                status: r.status,
                next_page_token: String::new(),
            });
        }
        page_token = r.next_page_token;
    }
}

/// One evpnd process inside a node's namespace (`ip netns exec NS evpnd --config FILE`), its
/// configuration, log and API socket in a directory of its own on the shared filesystem, so
/// that a client in any namespace reaches the API. Only the pid we started is ever signalled;
/// dropping it stops the process.
#[derive(Debug)]
pub struct EvpndProcess {
    name: String,
    netns: String,
    dir: PathBuf,
    process: Option<Daemon>,
}

impl EvpndProcess {
    /// Writes `config` to `dir/evpnd.toml` with `bgp.state-dir` set to `dir` (the restart
    /// marker stays private to this daemon) and an `[api]` on `dir/api.sock`. `config` must
    /// set neither. Nothing runs until [`EvpndProcess::spawn`].
    pub fn prepare(ns: &Netns, name: &str, dir: &Path, config: &str) -> Result<EvpndProcess> {
        std::fs::create_dir_all(dir).context(format!("creating {}", dir.display()))?;
        let state = format!("state-dir = \"{}\"\n", dir.display());
        let config = match config.find("[bgp]\n") {
            Some(i) => format!("{}[bgp]\n{state}{}", &config[..i], &config[i + 6..]),
            None => format!("{config}\n[bgp]\n{state}"),
        };
        let p = EvpndProcess {
            name: name.into(),
            netns: ns.name().into(),
            dir: dir.to_path_buf(),
            process: None,
        };
        let text = format!("{config}\n[api]\nlisten = \"unix:{}\"\n", p.api().display());
        std::fs::write(p.config(), text).context(format!("writing {}", p.config().display()))?;
        Ok(p)
    }

    /// A name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The API's unix socket.
    pub fn api(&self) -> PathBuf {
        self.dir.join("api.sock")
    }

    /// The configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("evpnd.toml")
    }

    /// The log (stderr of every run, appended).
    pub fn log(&self) -> PathBuf {
        self.dir.join("evpnd.log")
    }

    /// (Re)starts `binary --config FILE` in the namespace with `EVPND_LOG=log_filter` and
    /// waits (bounded by `timeout`) until its API answers; on failure the error carries the
    /// end of the log and the process is stopped.
    pub fn spawn(&mut self, binary: &Path, log_filter: &str, timeout: Duration) -> Result<()> {
        if self.process.is_some() {
            return Err(LabError::new(format!("{}: already running", self.name)));
        }
        let api = self.api();
        let _ = std::fs::remove_file(&api);
        let log = self.log();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .context(format!("opening {}", log.display()))?;
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.netns])
            .arg(binary)
            .arg("--config")
            .arg(self.config())
            .env("EVPND_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(Stdio::from(out));
        let mut process = Daemon::spawn(self.name.clone(), &mut cmd)?;
        let rt = runtime()?;
        // A daemon that exits (a refused configuration) ends the wait at once.
        let mut exited = None;
        let up = wait_until(timeout, Duration::from_millis(50), || {
            exited = process.exit_status();
            exited.is_some() || (api.exists() && rt.block_on(async { connect(&api).await.is_ok() }))
        });
        self.process = Some(process);
        if up.is_err() || exited.is_some() {
            self.stop();
            let why = match exited {
                Some(status) => format!("exited ({status})"),
                None => format!("API did not come up within {:.0} s", timeout.as_secs_f64()),
            };
            return Err(LabError::new(format!(
                "{}: {why}; log:\n{}",
                self.name,
                self.log_tail(40)
            )));
        }
        Ok(())
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Daemon::pid)
    }

    /// Kills the process with SIGKILL (no NOTIFICATION, no clean close by evpnd itself) and
    /// reaps it.
    pub fn kill_hard(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = crate::process::signal(p.pid(), rustix::process::Signal::KILL);
            p.stop(Duration::from_secs(5));
        }
    }

    /// Stops the process (SIGTERM, then SIGKILL after a grace period of 5 s).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop(Duration::from_secs(5));
        }
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        crate::frr::tail(&self.log(), n)
    }
}

impl Drop for EvpndProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
