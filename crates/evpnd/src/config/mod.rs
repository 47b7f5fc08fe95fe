//! The TOML configuration file (DESIGN.md §4) and its validation.
//!
//! Parsing is strict: unknown keys, bad addresses, impossible hold times and duplicate
//! neighbours are refused with a message that names the key, so `evpnd --check-config` can tell
//! an operator exactly what to fix. Values are judged by the node's own rules
//! ([`evpnd_node::validate`]), the same ones a run-time command obeys. The result is the node's
//! [`NodeConfig`] plus what only the driver needs (listen addresses, state directory, data
//! plane kind).

mod dataplane;
mod evpn;
mod neighbor;
mod observe;
mod peer_group;
mod static_route;
#[cfg(test)]
mod tests;
mod vrf;
mod watch;

use evpnd_node::{validate, NodeConfig};
use evpnd_wire::community::RouteTarget;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    asn: u32,
    router_id: Ipv4Addr,
    #[serde(default)]
    bgp: RawBgp,
    #[serde(default)]
    neighbor: Vec<neighbor::RawNeighbor>,
    #[serde(default)]
    peer_group: Vec<peer_group::RawPeerGroup>,
    #[serde(default)]
    static_route: Vec<static_route::RawStaticRoute>,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    dataplane: dataplane::RawDataplane,
    evpn: Option<evpn::RawEvpn>,
    #[serde(default)]
    vni: Vec<evpn::RawVni>,
    #[serde(default)]
    vrf: Vec<vrf::RawVrf>,
    #[serde(default)]
    endpoint: Vec<evpn::RawEndpoint>,
    #[serde(default)]
    watch: watch::RawWatch,
    #[serde(default)]
    metrics: observe::RawMetrics,
    #[serde(default)]
    log: observe::RawLog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBgp {
    listen: Option<String>,
    hold_time: Option<u16>,
    cluster_id: Option<Ipv4Addr>,
    connect_retry: Option<f64>,
    state_dir: Option<PathBuf>,
    select_defer_time: Option<u64>,
    rtc_end_of_rib_wait: Option<u64>,
    #[serde(default)]
    import_route_targets: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawApi {
    listen: Option<String>,
}

/// Where the API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiListen {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl std::str::FromStr for ApiListen {
    type Err = String;

    /// `unix:/path` or `host:port`.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err("unix: needs a path".into());
            }
            return Ok(ApiListen::Unix(PathBuf::from(p)));
        }
        s.parse()
            .map(ApiListen::Tcp)
            .map_err(|_| format!("{s:?} is neither unix:PATH nor HOST:PORT"))
    }
}

pub use dataplane::DataplaneKind;
pub use observe::{LogConfig, LogFormat};

/// The validated configuration: the node's, and the driver's own settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Everything the router itself is built from.
    pub node: NodeConfig,
    /// Where to accept BGP connections (`None`: do not listen).
    pub listen: Option<SocketAddr>,
    /// API endpoint.
    pub api: Option<ApiListen>,
    /// Directory for run-time state (the marker that tells an unclean restart).
    pub state_dir: PathBuf,
    /// The data plane the engine's intents go to.
    pub dataplane: DataplaneKind,
    /// How many deltas the watch streams keep (`[watch]`).
    pub watch: crate::watch::Retention,
    /// Where Prometheus metrics are served over HTTP (`[metrics] listen`; `None`: nowhere).
    pub metrics: Option<SocketAddr>,
    /// Log format and level (`[log]`).
    pub log: LogConfig,
    /// `[bgp] hold-time` and `connect-retry`: what a neighbour added at run time inherits.
    pub neighbor_defaults: (u16, Duration),
    /// The file it was read from (`None`: parsed from text): what a reload reads again.
    pub path: Option<PathBuf>,
}

/// A configuration error: which key, and what is wrong.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let mut c = parse(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))?;
    c.path = Some(path.to_path_buf());
    Ok(c)
}

/// Parses and validates configuration text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
    let keyed =
        |key: &str, e: evpnd_node::CommandError| ConfigError(format!("{key}: {}", e.message));
    validate::asn("asn", raw.asn).map_err(|e| keyed("asn", e))?;
    if raw.router_id.is_unspecified() {
        return err("router-id: 0.0.0.0 is not a valid BGP identifier");
    }
    let listen = match raw.bgp.listen.as_deref() {
        None => Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 179))),
        Some("none") | Some("") => None,
        Some(s) => Some(s.parse::<SocketAddr>().map_err(|_| {
            ConfigError(format!("bgp.listen: {s:?} is not HOST:PORT (or \"none\")"))
        })?),
    };
    let hold_time = raw.bgp.hold_time.unwrap_or(90);
    validate::hold_time(hold_time).map_err(|e| keyed("bgp.hold-time", e))?;
    let connect_retry = match raw.bgp.connect_retry {
        Some(s) if !(0.01..=3600.0).contains(&s) => {
            return err(format!("bgp.connect-retry: {s} seconds (0.01..=3600)"))
        }
        Some(s) => Duration::from_secs_f64(s),
        None => Duration::from_secs(1),
    };
    let defaults = neighbor::Defaults {
        asn: raw.asn,
        router_id: raw.router_id,
        hold_time,
        connect_retry,
    };
    let neighbors = neighbor::neighbors(raw.neighbor, &defaults)?;
    let peer_groups = peer_group::peer_groups(raw.peer_group, &defaults)?;
    let api = match raw.api.listen.as_deref() {
        None => Some(ApiListen::Unix(PathBuf::from("/run/evpnd/api.sock"))),
        Some("none") | Some("") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|e| ConfigError(format!("api.listen: {e}")))?,
        ),
    };
    let evpn = evpn::evpn_config(
        raw.asn,
        raw.router_id,
        raw.evpn.as_ref(),
        &raw.vni,
        &raw.vrf,
        &raw.endpoint,
    )?;
    let dataplane = dataplane::dataplane(&raw.dataplane, &raw.vni, &raw.vrf, evpn.as_ref())?;
    let metrics = observe::metrics(&raw.metrics)?;
    let log = observe::log(&raw.log)?;
    let vtep = raw
        .dataplane
        .vtep
        .or(evpn.as_ref().map(|e| e.engine.vtep))
        .unwrap_or(IpAddr::V4(raw.router_id));
    let mut static_routes = Vec::new();
    for (i, s) in raw.static_route.iter().enumerate() {
        static_routes.push(
            static_route::static_route(s, vtep)
                .map_err(|e| ConfigError(format!("static-route[{i}]: {}", e.0)))?,
        );
    }
    let import_route_targets = raw
        .bgp
        .import_route_targets
        .iter()
        .map(|t| {
            t.parse::<RouteTarget>()
                .map_err(|e| ConfigError(format!("bgp.import-route-targets: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let rtc_end_of_rib_wait = match raw.bgp.rtc_end_of_rib_wait {
        Some(s) if s > 3600 => {
            return err(format!("bgp.rtc-end-of-rib-wait: {s} seconds (0..=3600)"))
        }
        Some(s) => Duration::from_secs(s),
        None => evpnd_bgp::rib::RibConfig::DEFAULT_RTC_END_OF_RIB_WAIT,
    };
    let node = NodeConfig {
        asn: raw.asn,
        router_id: raw.router_id,
        cluster_id: raw.bgp.cluster_id.unwrap_or(raw.router_id),
        neighbors,
        peer_groups,
        static_routes,
        import_route_targets,
        select_defer_time: Duration::from_secs(raw.bgp.select_defer_time.unwrap_or(360)),
        rtc_end_of_rib_wait,
        restarting: false,
        evpn,
    };
    // Everything was checked key by key above; this is the node's own last word.
    node.validate().map_err(|e| ConfigError(e.to_string()))?;
    Ok(Config {
        node,
        listen,
        api,
        state_dir: raw
            .bgp
            .state_dir
            .unwrap_or_else(|| PathBuf::from("/run/evpnd")),
        dataplane,
        watch: raw.watch.retention()?,
        metrics,
        log,
        neighbor_defaults: (hold_time, connect_retry),
        path: None,
    })
}
