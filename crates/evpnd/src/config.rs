//! The TOML configuration file (DESIGN.md §4) and its validation.
//!
//! Parsing is strict: unknown keys, bad addresses, impossible hold times and duplicate
//! neighbours are refused with a message that names the key, so `evpnd --check-config` can tell
//! an operator exactly what to fix.

use evpnd_bgp::config::{MaxPrefix, PeerConfig};
use evpnd_wire::community::RouteTarget;
use evpnd_wire::{Family, IpPrefix, MacAddress, RouteDistinguisher};
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
    neighbor: Vec<RawNeighbor>,
    #[serde(default)]
    static_route: Vec<RawStaticRoute>,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    dataplane: RawDataplane,
    evpn: Option<RawEvpn>,
    #[serde(default)]
    vni: Vec<RawVni>,
    #[serde(default)]
    endpoint: Vec<RawEndpoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEvpn {
    vtep: Option<IpAddr>,
    duplicate_detection: Option<bool>,
    dup_max_moves: Option<u32>,
    dup_window: Option<u64>,
    dup_freeze: Option<RawFreeze>,
    route_target_derivation: Option<String>,
    domain_id: Option<u8>,
}

/// `dup-freeze`: seconds, or the word "permanent".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawFreeze {
    Seconds(i64),
    Word(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawVni {
    vni: u32,
    rd: Option<String>,
    import_route_targets: Option<Vec<String>>,
    export_route_targets: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEndpoint {
    vni: u32,
    mac: String,
    ip: Option<IpAddr>,
    #[serde(default)]
    sticky: bool,
    #[serde(default)]
    router: bool,
    #[serde(default)]
    static_binding: bool,
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
    #[serde(default)]
    import_route_targets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNeighbor {
    address: IpAddr,
    remote_asn: u32,
    port: Option<u16>,
    local_address: Option<IpAddr>,
    passive: Option<bool>,
    route_reflector_client: Option<bool>,
    hold_time: Option<u16>,
    families: Option<Vec<String>>,
    md5_password: Option<String>,
    ttl_security: Option<u8>,
    multihop: Option<u8>,
    max_prefix: Option<u32>,
    max_prefix_restart: Option<u64>,
    graceful_restart: Option<bool>,
    restart_time: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStaticRoute {
    #[serde(rename = "type")]
    kind: String,
    rd: String,
    #[serde(default)]
    route_targets: Vec<String>,
    vni: Option<u32>,
    mac: Option<String>,
    ip: Option<IpAddr>,
    prefix: Option<String>,
    gateway: Option<IpAddr>,
    router_mac: Option<String>,
    next_hop: Option<IpAddr>,
    mac_mobility_sequence: Option<u32>,
    sticky: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawApi {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDataplane {
    kind: Option<String>,
    vtep: Option<IpAddr>,
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

/// One neighbour: the session settings plus what only the driver needs.
#[derive(Clone, Debug)]
pub struct Neighbor {
    /// Settings the sans-I/O cores use.
    pub peer: PeerConfig,
    /// TCP port of the neighbour.
    pub port: u16,
    /// Source address for outgoing connections.
    pub local_address: Option<IpAddr>,
    /// TCP-MD5 password (RFC 2385).
    pub md5_password: Option<String>,
    /// GTSM (RFC 5082): accept only packets with TTL ≥ 255 - (hops - 1).
    pub ttl_security: Option<u8>,
    /// eBGP multihop TTL for our packets.
    pub multihop: Option<u8>,
}

/// A static route to originate (for testing before the EVPN engine exists; issue #3 item 7).
#[derive(Clone, Debug)]
pub struct StaticRoute {
    /// The family (always L2VPN EVPN for now).
    pub family: Family,
    /// The route.
    pub nlri: evpnd_wire::Nlri,
    /// Extended communities to attach (route targets, encapsulation, ...).
    pub communities: Vec<evpnd_wire::ExtendedCommunity>,
    /// PMSI tunnel attribute (type-3 routes).
    pub pmsi: Option<evpnd_wire::PmsiTunnel>,
    /// Next hop (the VTEP).
    pub next_hop: IpAddr,
}

/// Which data plane receives the EVPN engine's intents (`[dataplane] kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataplaneKind {
    /// Intents are logged at debug level and dropped (control plane only).
    None,
    /// Intents are applied to in-memory tables (tests, `evpnctl show dataplane`).
    Memory,
}

/// The EVPN engine settings (`[evpn]`, `[[vni]]`, `[[endpoint]]`); present when the engine runs.
#[derive(Clone, Debug)]
pub struct EvpnConfig {
    /// The local VTEP, duplicate detection (the engine's own settings).
    pub engine: evpnd_evpn::EngineConfig,
    /// One EVI per `[[vni]]` (RFC 7432 §6.1, VLAN-based service).
    pub evis: Vec<evpnd_evpn::EviConfig>,
    /// Endpoints attached at startup (`[[endpoint]]`).
    pub endpoints: Vec<evpnd_evpn::types::Attachment>,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our AS.
    pub asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Where to accept BGP connections (`None`: do not listen).
    pub listen: Option<SocketAddr>,
    /// Route reflector cluster id.
    pub cluster_id: Ipv4Addr,
    /// Neighbours.
    pub neighbors: Vec<Neighbor>,
    /// Static routes.
    pub static_routes: Vec<StaticRoute>,
    /// API endpoint.
    pub api: Option<ApiListen>,
    /// Directory for run-time state (the marker that tells an unclean restart).
    pub state_dir: PathBuf,
    /// After an unclean restart, the longest we defer advertising while waiting for the
    /// peers' End-of-RIB (RFC 4724 §4.1; FRR's select-defer-time).
    pub select_defer_time: Duration,
    /// Route targets we import: originated as RT-Constraint memberships (RFC 4684 §4) to
    /// peers that negotiate the RTC family. (Per-VNI import targets join with the EVPN engine.)
    pub import_route_targets: Vec<RouteTarget>,
    /// The EVPN engine (`None`: no `[evpn] vtep`, the engine is off).
    pub evpn: Option<EvpnConfig>,
    /// The data plane the engine's intents go to.
    pub dataplane: DataplaneKind,
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
    parse(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
}

fn parse_family(s: &str) -> Option<Family> {
    Some(match s {
        "l2vpn-evpn" | "evpn" => Family::L2VPN_EVPN,
        "ipv4-unicast" => Family::IPV4_UNICAST,
        "ipv6-unicast" => Family::IPV6_UNICAST,
        "ipv4-rtc" | "rtc" | "rt-constraint" => Family::RT_CONSTRAINT,
        _ => return None,
    })
}

/// Parses and validates configuration text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
    if raw.asn == 0 {
        return err("asn: AS 0 is reserved (RFC 7607)");
    }
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
    let check_hold = |key: &str, h: u16| {
        if matches!(h, 1 | 2) {
            err(format!(
                "{key}: hold time {h} (must be 0 or at least 3, RFC 4271 §4.2)"
            ))
        } else {
            Ok(h)
        }
    };
    let default_hold = check_hold("bgp.hold-time", raw.bgp.hold_time.unwrap_or(90))?;
    let connect_retry = match raw.bgp.connect_retry {
        Some(s) if !(0.01..=3600.0).contains(&s) => {
            return err(format!("bgp.connect-retry: {s} seconds (0.01..=3600)"))
        }
        Some(s) => Duration::from_secs_f64(s),
        None => Duration::from_secs(1),
    };
    let mut neighbors: Vec<Neighbor> = Vec::new();
    for (i, n) in raw.neighbor.into_iter().enumerate() {
        let key = format!("neighbor[{i}] ({})", n.address);
        if neighbors.iter().any(|o| o.peer.address == n.address) {
            return err(format!("{key}: duplicate neighbor address"));
        }
        if n.remote_asn == 0 {
            return err(format!("{key}.remote-asn: AS 0 is reserved (RFC 7607)"));
        }
        let mut peer = PeerConfig::new(n.address, n.remote_asn, raw.asn, raw.router_id);
        peer.hold_time = check_hold(
            &format!("{key}.hold-time"),
            n.hold_time.unwrap_or(default_hold),
        )?;
        peer.passive = n.passive.unwrap_or(false);
        peer.route_reflector_client = n.route_reflector_client.unwrap_or(false);
        peer.connect_retry = connect_retry;
        if peer.route_reflector_client && peer.is_external() {
            return err(format!(
                "{key}: route-reflector-client needs an iBGP neighbor (RFC 4456)"
            ));
        }
        if let Some(fams) = n.families {
            if fams.is_empty() {
                return err(format!("{key}.families: empty"));
            }
            let mut out = Vec::new();
            for f in fams {
                let fam = parse_family(&f).ok_or_else(|| {
                    ConfigError(format!(
                        "{key}.families: unknown family {f:?} (l2vpn-evpn, ipv4-rtc, ipv4-unicast, ipv6-unicast)"
                    ))
                })?;
                if !out.contains(&fam) {
                    out.push(fam);
                }
            }
            peer.families = out;
        }
        if let Some(limit) = n.max_prefix {
            peer.max_prefix = vec![MaxPrefix {
                family: Family::L2VPN_EVPN,
                limit,
                restart_after: n.max_prefix_restart.map(Duration::from_secs),
            }];
        }
        if n.graceful_restart.unwrap_or(false) {
            let restart_time = n.restart_time.unwrap_or(120);
            if restart_time > 4095 {
                return err(format!(
                    "{key}.restart-time: {restart_time} exceeds 4095 seconds (RFC 4724 §3)"
                ));
            }
            peer.graceful_restart = Some(evpnd_bgp::config::GracefulRestartConfig {
                restart_time,
                stale_routes_time: Duration::from_secs(360),
            });
        }
        if let Some(p) = &n.md5_password {
            if p.is_empty() || p.len() > 80 {
                return err(format!(
                    "{key}.md5-password: 1 to 80 bytes (TCP_MD5SIG_MAXKEYLEN)"
                ));
            }
        }
        if n.ttl_security.is_some() && n.multihop.is_some() {
            return err(format!(
                "{key}: ttl-security and multihop exclude each other"
            ));
        }
        if let Some(local) = n.local_address {
            if local.is_ipv4() != n.address.is_ipv4() {
                return err(format!(
                    "{key}.local-address: {local} is not of the neighbor's address family"
                ));
            }
        }
        neighbors.push(Neighbor {
            peer,
            port: n.port.unwrap_or(179),
            local_address: n.local_address,
            md5_password: n.md5_password,
            ttl_security: n.ttl_security,
            multihop: n.multihop,
        });
    }
    let api = match raw.api.listen.as_deref() {
        None => Some(ApiListen::Unix(PathBuf::from("/run/evpnd/api.sock"))),
        Some("none") | Some("") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|e| ConfigError(format!("api.listen: {e}")))?,
        ),
    };
    let dataplane = match raw.dataplane.kind.as_deref() {
        None | Some("none") => DataplaneKind::None,
        Some("memory") => DataplaneKind::Memory,
        Some("linux") => {
            return err(
                "dataplane.kind: \"linux\" is not available yet (use \"none\" or \"memory\")",
            )
        }
        Some(k) => {
            return err(format!(
                "dataplane.kind: unknown kind {k:?} (\"none\", \"memory\")"
            ))
        }
    };
    let evpn = evpn_config(
        raw.asn,
        raw.router_id,
        raw.evpn.as_ref(),
        &raw.vni,
        &raw.endpoint,
    )?;
    let vtep = raw
        .dataplane
        .vtep
        .or(evpn.as_ref().map(|e| e.engine.vtep))
        .unwrap_or(IpAddr::V4(raw.router_id));
    let mut static_routes = Vec::new();
    for (i, s) in raw.static_route.into_iter().enumerate() {
        static_routes.push(
            static_route(&s, vtep)
                .map_err(|e| ConfigError(format!("static-route[{i}]: {}", e.0)))?,
        );
    }
    Ok(Config {
        asn: raw.asn,
        router_id: raw.router_id,
        listen,
        cluster_id: raw.bgp.cluster_id.unwrap_or(raw.router_id),
        neighbors,
        static_routes,
        api,
        state_dir: raw
            .bgp
            .state_dir
            .unwrap_or_else(|| PathBuf::from("/run/evpnd")),
        select_defer_time: Duration::from_secs(raw.bgp.select_defer_time.unwrap_or(360)),
        import_route_targets: raw
            .bgp
            .import_route_targets
            .iter()
            .map(|t| {
                t.parse::<RouteTarget>()
                    .map_err(|e| ConfigError(format!("bgp.import-route-targets: {e}")))
            })
            .collect::<Result<_, _>>()?,
        evpn,
        dataplane,
    })
}

/// The largest VNI (24 bits, RFC 7348 §5).
const MAX_VNI: u32 = (1 << 24) - 1;

/// `[evpn]`, `[[vni]]` and `[[endpoint]]`: `None` when no VTEP is configured (engine off).
fn evpn_config(
    asn: u32,
    router_id: Ipv4Addr,
    raw: Option<&RawEvpn>,
    vnis: &[RawVni],
    endpoints: &[RawEndpoint],
) -> Result<Option<EvpnConfig>, ConfigError> {
    use evpnd_evpn::{
        DuplicateDetection, EngineConfig, EviConfig, Freeze, ImportTarget, RtDerivation,
    };
    let Some(vtep) = raw.and_then(|r| r.vtep) else {
        if !vnis.is_empty() {
            return err("evpn.vtep: required when a [[vni]] is configured");
        }
        if !endpoints.is_empty() {
            return err("endpoint[0].vni: no [[vni]] is configured (and evpn.vtep is unset)");
        }
        if raw.is_some() {
            return err("evpn.vtep: required in the [evpn] section");
        }
        return Ok(None);
    };
    let default = RawEvpn::default();
    let raw = raw.unwrap_or(&default);
    if !host_address(vtep) {
        return err(format!("evpn.vtep: {vtep} is not a unicast address"));
    }
    let mut dd = DuplicateDetection::default();
    dd.enabled = raw.duplicate_detection.unwrap_or(dd.enabled);
    if let Some(n) = raw.dup_max_moves {
        if n < 2 {
            return err(format!("evpn.dup-max-moves: {n} (at least 2)"));
        }
        dd.max_moves = n;
    }
    if let Some(w) = raw.dup_window {
        if w == 0 {
            return err("evpn.dup-window: 0 seconds (must be above 0)");
        }
        dd.window = Duration::from_secs(w);
    }
    match &raw.dup_freeze {
        None => {}
        Some(RawFreeze::Word(w)) if w == "permanent" => dd.freeze = Freeze::Permanent,
        Some(RawFreeze::Word(w)) => {
            return err(format!(
                "evpn.dup-freeze: {w:?} (seconds, or \"permanent\")"
            ))
        }
        Some(RawFreeze::Seconds(s)) if *s <= 0 => {
            return err(format!(
                "evpn.dup-freeze: {s} seconds (must be above 0, or \"permanent\")"
            ))
        }
        Some(RawFreeze::Seconds(s)) => dd.freeze = Freeze::For(Duration::from_secs(*s as u64)),
    }
    let mut engine = EngineConfig::new(asn, router_id, vtep);
    engine.duplicate_detection = dd;
    engine.rt_derivation = match raw.route_target_derivation.as_deref() {
        None | Some("asn-vni") => {
            if raw.domain_id.is_some() {
                return err("evpn.domain-id: only with route-target-derivation = \"rfc8365\"");
            }
            RtDerivation::AsnVni
        }
        Some("rfc8365") => match raw.domain_id.unwrap_or(0) {
            d @ 0..=15 => RtDerivation::Rfc8365 { domain_id: d },
            d => return err(format!("evpn.domain-id: {d} (0..=15, 4 bits)")),
        },
        Some(other) => {
            return err(format!(
                "evpn.route-target-derivation: {other:?} (\"asn-vni\" or \"rfc8365\")"
            ))
        }
    };

    let mut evis: Vec<EviConfig> = Vec::new();
    let mut rds: Vec<(RouteDistinguisher, u32)> = Vec::new();
    for (i, v) in vnis.iter().enumerate() {
        let key = format!("vni[{i}]");
        if v.vni == 0 || v.vni > MAX_VNI {
            return err(format!("{key}.vni: {} (1..={MAX_VNI})", v.vni));
        }
        if evis.iter().any(|e| e.vni == v.vni) {
            return err(format!("{key}.vni: VNI {} is configured twice", v.vni));
        }
        let mut evi = EviConfig::new(v.vni);
        if let Some(rd) = &v.rd {
            evi.rd = Some(
                rd.parse::<RouteDistinguisher>()
                    .map_err(|e| ConfigError(format!("{key}.rd: {e}")))?,
            );
        }
        let rd = evi
            .rd
            .unwrap_or_else(|| evpnd_evpn::auto_rd(router_id, v.vni));
        if let Some((_, other)) = rds.iter().find(|(r, _)| *r == rd) {
            return err(format!(
                "{key}.rd: {rd} is also the RD of VNI {other} (give one of them an explicit rd)"
            ));
        }
        rds.push((rd, v.vni));
        if let Some(list) = &v.import_route_targets {
            if list.is_empty() {
                return err(format!(
                    "{key}.import-route-targets: empty (leave it out for the auto-derived ASN:VNI)"
                ));
            }
            for t in list {
                let rule = match t.strip_prefix("*:") {
                    Some(n) => match n.parse::<u32>() {
                        Ok(n) if (1..=MAX_VNI).contains(&n) => ImportTarget::AnyAs(n),
                        _ => {
                            return err(format!(
                                "{key}.import-route-targets: {t:?}: the wildcard needs a VNI (*:1..={MAX_VNI})"
                            ))
                        }
                    },
                    None => ImportTarget::Exact(t.parse::<RouteTarget>().map_err(|e| {
                        ConfigError(format!("{key}.import-route-targets: {e}"))
                    })?),
                };
                if !evi.import.contains(&rule) {
                    evi.import.push(rule);
                }
            }
        }
        if let Some(list) = &v.export_route_targets {
            if list.is_empty() {
                return err(format!(
                    "{key}.export-route-targets: empty (leave it out for the auto-derived ASN:VNI)"
                ));
            }
            for t in list {
                let rt = t
                    .parse::<RouteTarget>()
                    .map_err(|e| ConfigError(format!("{key}.export-route-targets: {e}")))?;
                if !evi.export.contains(&rt) {
                    evi.export.push(rt);
                }
            }
        }
        evis.push(evi);
    }

    let mut attachments: Vec<evpnd_evpn::types::Attachment> = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        let key = format!("endpoint[{i}]");
        if !evis.iter().any(|v| v.vni == e.vni) {
            return err(format!("{key}.vni: VNI {} has no [[vni]] section", e.vni));
        }
        let mac: MacAddress = e
            .mac
            .parse()
            .map_err(|x| ConfigError(format!("{key}.mac: {x}")))?;
        if let Err((field, reason)) = check_endpoint(mac, e.ip, e.router, e.static_binding) {
            return err(format!("{key}.{field}: {reason}"));
        }
        if let Some((j, _)) = attachments
            .iter()
            .enumerate()
            .find(|(_, a)| a.vni == e.vni && a.mac == mac && a.ip == e.ip)
        {
            return err(format!(
                "{key}: duplicate of endpoint[{j}] (same vni, mac and ip)"
            ));
        }
        if let Some((j, _)) = attachments
            .iter()
            .enumerate()
            .find(|(_, a)| a.vni == e.vni && a.mac == mac && a.sticky != e.sticky)
        {
            return err(format!(
                "{key}.sticky: differs from endpoint[{j}] with the same vni and mac"
            ));
        }
        if let Some(ip) = e.ip {
            if let Some((j, _)) = attachments
                .iter()
                .enumerate()
                .find(|(_, a)| a.vni == e.vni && a.ip == Some(ip) && a.mac != mac)
            {
                return err(format!(
                    "{key}.ip: {ip} is already bound to another MAC by endpoint[{j}]"
                ));
            }
        }
        attachments.push(evpnd_evpn::types::Attachment {
            vni: e.vni,
            mac,
            ip: e.ip,
            sticky: e.sticky,
            router: e.router,
            static_binding: e.static_binding,
        });
    }
    Ok(Some(EvpnConfig {
        engine,
        evis,
        endpoints: attachments,
    }))
}

/// The checks an endpoint passes, from the config or the API: a unicast MAC, a host IP, the
/// router flag only with an IPv6 address (the ND R flag, RFC 9047 §3.1), a static binding only
/// with an IP. The error names the field and says what is wrong.
pub fn check_endpoint(
    mac: MacAddress,
    ip: Option<IpAddr>,
    router: bool,
    static_binding: bool,
) -> Result<(), (&'static str, String)> {
    if mac.is_multicast() || mac.is_zero() {
        return Err((
            "mac",
            format!("{mac} is not a unicast MAC address (group or all-zero)"),
        ));
    }
    if let Some(ip) = ip {
        if !host_address(ip) {
            return Err(("ip", format!("{ip} is not a unicast host address")));
        }
    }
    if router && !ip.is_some_and(|ip| ip.is_ipv6()) {
        return Err((
            "router",
            "the router flag needs an IPv6 ip (ND R flag, RFC 9047)".into(),
        ));
    }
    if static_binding && ip.is_none() {
        return Err(("static-binding", "needs an ip".into()));
    }
    Ok(())
}

/// A unicast host address an endpoint can have: not unspecified, multicast or broadcast.
pub fn host_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

fn static_route(s: &RawStaticRoute, vtep: IpAddr) -> Result<StaticRoute, ConfigError> {
    use evpnd_wire::community::ExtCommunityKind;
    use evpnd_wire::{
        Esi, EvpnRoute, ExtendedCommunity, InclusiveMulticastRoute, IpPrefixRoute, Label,
        MacIpRoute, Nlri, PmsiTunnel, Route,
    };
    let rd: RouteDistinguisher = s.rd.parse().map_err(|e| ConfigError(format!("rd: {e}")))?;
    let vni = s.vni.ok_or_else(|| ConfigError("vni: required".into()))?;
    let label =
        Label::from_vni(vni).ok_or_else(|| ConfigError(format!("vni: {vni} exceeds 24 bits")))?;
    let next_hop = s.next_hop.unwrap_or(vtep);
    let mut communities = Vec::new();
    for rt in &s.route_targets {
        let rt: RouteTarget = rt
            .parse()
            .map_err(|e| ConfigError(format!("route-targets: {e}")))?;
        communities.push(ExtendedCommunity::route_target(rt));
    }
    if communities.is_empty() {
        return err("route-targets: at least one is required");
    }
    communities.push(ExtendedCommunity::vxlan_encapsulation());
    let mac = |field: &str, v: &Option<String>| -> Result<Option<MacAddress>, ConfigError> {
        v.as_deref()
            .map(|m| {
                m.parse::<MacAddress>()
                    .map_err(|e| ConfigError(format!("{field}: {e}")))
            })
            .transpose()
    };
    let (route, pmsi) = match s.kind.as_str() {
        "mac-ip" => {
            let mac = mac("mac", &s.mac)?
                .ok_or_else(|| ConfigError("mac: required for mac-ip".into()))?;
            if mac.is_multicast() {
                return err("mac: must be a unicast MAC");
            }
            if s.mac_mobility_sequence.is_some() || s.sticky.unwrap_or(false) {
                communities.push(ExtendedCommunity::new(ExtCommunityKind::MacMobility {
                    sequence: s.mac_mobility_sequence.unwrap_or(0),
                    sticky: s.sticky.unwrap_or(false),
                }));
            }
            (
                EvpnRoute::MacIp(MacIpRoute {
                    rd,
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    mac,
                    ip: s.ip,
                    label1: label,
                    label2: None,
                }),
                None,
            )
        }
        "inclusive-multicast" => (
            EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd,
                ethernet_tag: 0,
                originator: next_hop,
            }),
            Some(PmsiTunnel::ingress_replication(next_hop, label)),
        ),
        "ip-prefix" => {
            let p: IpPrefix = s
                .prefix
                .as_deref()
                .ok_or_else(|| ConfigError("prefix: required for ip-prefix".into()))?
                .parse()
                .map_err(|e| ConfigError(format!("prefix: {e}")))?;
            let gateway = s.gateway.unwrap_or(match p.addr() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            });
            if gateway.is_ipv4() != p.addr().is_ipv4() {
                return err("gateway: must be of the prefix's family (RFC 9136 §3.1)");
            }
            if let Some(m) = mac("router-mac", &s.router_mac)? {
                communities.push(ExtendedCommunity::new(ExtCommunityKind::RouterMac(m)));
            }
            (
                EvpnRoute::IpPrefix(IpPrefixRoute {
                    rd,
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    prefix_len: p.len(),
                    prefix: p.addr(),
                    gateway,
                    label,
                }),
                None,
            )
        }
        k => {
            return err(format!(
                "type: unknown {k:?} (mac-ip, inclusive-multicast, ip-prefix)"
            ))
        }
    };
    Ok(StaticRoute {
        family: Family::L2VPN_EVPN,
        nlri: Nlri::new(Route::Evpn(route)),
        communities,
        pmsi,
        next_hop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
asn = 65001
router-id = "198.19.0.1"
[bgp]
listen = "127.0.0.1:11179"
[[neighbor]]
address = "198.18.0.2"
remote-asn = 65000
[[static-route]]
type = "mac-ip"
rd = "198.19.0.1:100"
route-targets = ["65000:100"]
vni = 100
mac = "02:00:00:00:00:01"
ip = "192.0.2.1"
[api]
listen = "unix:/tmp/evpnd-test.sock"
"#;

    #[test]
    fn good_config_parses() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.asn, 65001);
        assert_eq!(c.neighbors.len(), 1);
        assert!(c.neighbors[0].peer.is_external());
        assert_eq!(c.static_routes.len(), 1);
        assert_eq!(c.api, Some(ApiListen::Unix("/tmp/evpnd-test.sock".into())));
    }

    #[test]
    fn bad_configs_name_the_key() {
        let cases = [
            (GOOD.replace("asn = 65001", "asn = 0"), "asn"),
            (
                GOOD.replace("remote-asn = 65000", "remote-asn = 65000\nhold-time = 2"),
                "hold-time",
            ),
            (GOOD.replace("vni = 100", "vni = 16777216"), "vni"),
            (
                GOOD.replace("mac = \"02:00:00:00:00:01\"", "mac = \"02:00\""),
                "mac",
            ),
            (GOOD.replace("[api]", "[api]\nbogus = 1"), "bogus"),
            (
                GOOD.replace("listen = \"127.0.0.1:11179\"", "listen = \"nowhere\""),
                "bgp.listen",
            ),
            (GOOD.replace("rd = \"198.19.0.1:100\"", "rd = \"x\""), "rd"),
            (
                format!("{GOOD}\n[[neighbor]]\naddress = \"198.18.0.2\"\nremote-asn = 1\n"),
                "duplicate",
            ),
        ];
        for (text, key) in cases {
            let e = parse(&text).unwrap_err().0;
            assert!(e.contains(key), "error {e:?} should mention {key:?}");
        }
    }

    const EVPN: &str = r#"
asn = 65000
router-id = "198.19.0.1"
[evpn]
vtep = "198.19.0.1"
[[vni]]
vni = 100
[[vni]]
vni = 200
rd = "65000:200"
import-route-targets = ["65000:200", "*:200"]
export-route-targets = ["65000:200", "65000:201"]
[[endpoint]]
vni = 100
mac = "02:00:00:00:00:01"
ip = "192.0.2.1"
sticky = true
[[endpoint]]
vni = 200
mac = "02:00:00:00:00:02"
ip = "2001:db8::2"
router = true
static-binding = true
[dataplane]
kind = "memory"
"#;

    #[test]
    fn evpn_sections_parse() {
        use evpnd_evpn::{Freeze, ImportTarget};
        let c = parse(EVPN).unwrap();
        assert_eq!(c.dataplane, DataplaneKind::Memory);
        let e = c.evpn.unwrap();
        assert_eq!(e.engine.vtep, "198.19.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(e.engine.asn, 65000);
        // Defaults of RFC 7432 §15.1: 5 moves in 180 s, frozen 180 s.
        let dd = e.engine.duplicate_detection;
        assert!(dd.enabled);
        assert_eq!(
            (dd.max_moves, dd.window, dd.freeze),
            (
                5,
                Duration::from_secs(180),
                Freeze::For(Duration::from_secs(180))
            )
        );
        assert_eq!(e.evis.len(), 2);
        assert_eq!((e.evis[0].vni, e.evis[0].rd), (100, None));
        assert!(e.evis[0].import.is_empty() && e.evis[0].export.is_empty());
        assert_eq!(e.evis[1].rd, Some("65000:200".parse().unwrap()));
        assert_eq!(
            e.evis[1].import,
            vec![
                ImportTarget::Exact(RouteTarget::As2 {
                    asn: 65000,
                    value: 200
                }),
                ImportTarget::AnyAs(200)
            ]
        );
        assert_eq!(e.evis[1].export.len(), 2);
        assert_eq!(e.endpoints.len(), 2);
        let a = e.endpoints[0];
        assert_eq!(a.mac, "02:00:00:00:00:01".parse().unwrap());
        assert!(a.sticky && !a.router && !a.static_binding);
        let b = e.endpoints[1];
        assert!(!b.sticky && b.router && b.static_binding);
        assert_eq!(b.ip, Some("2001:db8::2".parse().unwrap()));
    }

    /// The example in docs/configuration.md is a valid configuration.
    #[test]
    fn documented_example_parses() {
        let doc = include_str!("../../../docs/configuration.md");
        let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
        let len = doc[start..].find("```").unwrap();
        // The example lists every neighbor option, also ttl-security and multihop, which
        // exclude each other: drop multihop.
        let text: String = doc[start..start + len]
            .lines()
            .filter(|l| !l.starts_with("multihop"))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let e = c.evpn.unwrap();
        assert_eq!((e.evis.len(), e.endpoints.len()), (1, 1));
    }

    #[test]
    fn evpn_is_off_without_vtep_and_dataplane_defaults_to_none() {
        let c = parse(GOOD).unwrap();
        assert!(c.evpn.is_none());
        assert_eq!(c.dataplane, DataplaneKind::None);
        // A VTEP alone runs the engine with no EVI (endpoints come later through the API).
        let c =
            parse("asn = 1\nrouter-id = \"198.19.0.1\"\n[evpn]\nvtep = \"198.19.0.9\"\n").unwrap();
        assert!(c.evpn.unwrap().evis.is_empty());
    }

    #[test]
    fn duplicate_detection_settings() {
        use evpnd_evpn::Freeze;
        let text = EVPN.replace(
            "vtep = \"198.19.0.1\"",
            "vtep = \"198.19.0.1\"\nduplicate-detection = false\ndup-max-moves = 2\ndup-window = 10\ndup-freeze = \"permanent\"",
        );
        let dd = parse(&text)
            .unwrap()
            .evpn
            .unwrap()
            .engine
            .duplicate_detection;
        assert!(!dd.enabled);
        assert_eq!(dd.max_moves, 2);
        assert_eq!(dd.window, Duration::from_secs(10));
        assert_eq!(dd.freeze, Freeze::Permanent);
        let text = EVPN.replace(
            "vtep = \"198.19.0.1\"",
            "vtep = \"198.19.0.1\"\ndup-freeze = 30",
        );
        let dd = parse(&text)
            .unwrap()
            .evpn
            .unwrap()
            .engine
            .duplicate_detection;
        assert_eq!(dd.freeze, Freeze::For(Duration::from_secs(30)));
    }

    #[test]
    fn route_target_derivation() {
        use evpnd_evpn::RtDerivation;
        let vtep = "vtep = \"198.19.0.1\"";
        let e = parse(EVPN).unwrap().evpn.unwrap();
        assert_eq!(e.engine.rt_derivation, RtDerivation::AsnVni);
        let text = EVPN.replace(
            vtep,
            &format!("{vtep}\nroute-target-derivation = \"rfc8365\"\ndomain-id = 3"),
        );
        let e = parse(&text).unwrap().evpn.unwrap();
        assert_eq!(
            e.engine.rt_derivation,
            RtDerivation::Rfc8365 { domain_id: 3 }
        );
        // The RT-Constraint membership of VNI 100 follows: 65000:(type 1 VXLAN, D-ID 3, VNI)
        // (RFC 8365 §5.1.2.1: A=0, type=1 in bits 28..30, D-ID in bits 24..27).
        let rts = crate::evpn::import_route_targets(&e);
        assert_eq!(
            rts[0],
            RouteTarget::As2 {
                asn: 65000,
                value: (1 << 28) | (3 << 24) | 100
            }
        );
    }

    #[test]
    fn bad_evpn_configs_name_the_key() {
        let vtep = "vtep = \"198.19.0.1\"";
        let with_evpn = |extra: &str| EVPN.replace(vtep, &format!("{vtep}\n{extra}"));
        let endpoint = |body: &str| format!("{EVPN}\n[[endpoint]]\n{body}\n");
        let cases: Vec<(String, &str)> = vec![
            (EVPN.replace(vtep, ""), "evpn.vtep: required"),
            (EVPN.replace(vtep, "vtep = \"224.0.0.1\""), "evpn.vtep"),
            (EVPN.replace(vtep, "vtep = \"nope\""), "vtep"),
            (with_evpn("dup-max-moves = 1"), "evpn.dup-max-moves"),
            (with_evpn("dup-window = 0"), "evpn.dup-window"),
            (with_evpn("dup-freeze = \"forever\""), "evpn.dup-freeze"),
            (with_evpn("dup-freeze = 0"), "evpn.dup-freeze"),
            (with_evpn("bogus = 1"), "bogus"),
            (
                with_evpn("route-target-derivation = \"type1\""),
                "evpn.route-target-derivation",
            ),
            (
                with_evpn("route-target-derivation = \"rfc8365\"\ndomain-id = 16"),
                "evpn.domain-id",
            ),
            (with_evpn("domain-id = 1"), "evpn.domain-id"),
            (
                EVPN.replace("vni = 100\n[[vni]]", "vni = 0\n[[vni]]"),
                "vni[0].vni",
            ),
            (
                EVPN.replace("vni = 100\n[[vni]]", "vni = 16777216\n[[vni]]"),
                "vni[0].vni",
            ),
            (
                EVPN.replace("vni = 100\n[[vni]]", "vni = 200\n[[vni]]"),
                "vni[1].vni: VNI 200 is configured twice",
            ),
            (
                EVPN.replace("rd = \"65000:200\"", "rd = \"x:y\""),
                "vni[1].rd",
            ),
            // 198.19.0.1:100 is VNI 100's auto RD (RFC 7432 §7.9).
            (
                EVPN.replace("rd = \"65000:200\"", "rd = \"198.19.0.1:100\""),
                "vni[1].rd",
            ),
            (
                EVPN.replace("\"*:200\"", "\"*:x\""),
                "vni[1].import-route-targets",
            ),
            (
                EVPN.replace("\"*:200\"", "\"*:16777216\""),
                "vni[1].import-route-targets",
            ),
            (
                EVPN.replace("\"65000:201\"", "\"65000\""),
                "vni[1].export-route-targets",
            ),
            (
                EVPN.replace(
                    "import-route-targets = [\"65000:200\", \"*:200\"]",
                    "import-route-targets = []",
                ),
                "vni[1].import-route-targets",
            ),
            (
                endpoint("vni = 300\nmac = \"02:00:00:00:00:03\""),
                "endpoint[2].vni: VNI 300",
            ),
            (
                endpoint("vni = 100\nmac = \"01:00:5e:00:00:01\""),
                "endpoint[2].mac",
            ),
            (
                endpoint("vni = 100\nmac = \"00:00:00:00:00:00\""),
                "endpoint[2].mac",
            ),
            (endpoint("vni = 100\nmac = \"02:00\""), "endpoint[2].mac"),
            (
                endpoint(
                    "vni = 100\nmac = \"02:00:00:00:00:01\"\nip = \"192.0.2.1\"\nsticky = true",
                ),
                "endpoint[2]: duplicate of endpoint[0]",
            ),
            (
                endpoint("vni = 100\nmac = \"02:00:00:00:00:01\""),
                "endpoint[2].sticky",
            ),
            (
                endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nip = \"192.0.2.1\""),
                "endpoint[2].ip",
            ),
            (
                endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nip = \"0.0.0.0\""),
                "endpoint[2].ip",
            ),
            (
                endpoint(
                    "vni = 100\nmac = \"02:00:00:00:00:09\"\nip = \"192.0.2.9\"\nrouter = true",
                ),
                "endpoint[2].router",
            ),
            (
                endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nstatic-binding = true"),
                "endpoint[2].static-binding",
            ),
            (
                endpoint("vni = 100\nmac = \"02:00:00:00:00:09\"\nport = 1"),
                "port",
            ),
            (
                EVPN.replace("kind = \"memory\"", "kind = \"fast\""),
                "dataplane.kind",
            ),
            (
                GOOD.replace("[api]", "[[vni]]\nvni = 5\n[api]"),
                "evpn.vtep: required",
            ),
            // Both auto RDs are 198.19.0.1:100 (the VNI's low 16 bits, RFC 7432 §7.9).
            (
                format!("{EVPN}\n[[vni]]\nvni = 65636\n"),
                "vni[2].rd: 198.19.0.1:100 is also the RD of VNI 100",
            ),
        ];
        for (text, key) in cases {
            let e = match parse(&text) {
                Ok(_) => panic!("accepted, expected an error naming {key:?}:\n{text}"),
                Err(e) => e.0,
            };
            assert!(e.contains(key), "error {e:?} should mention {key:?}");
        }
    }
}
