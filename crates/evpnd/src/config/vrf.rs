//! `[[vrf]]` and `[[vrf.route]]`: tenant VRFs (IP-VRFs, RFC 9135 §3) with their L3VNI, router
//! MAC, RD/RTs and what they advertise as IP prefix routes (RFC 9136). Each VRF is judged with
//! the rules the `AddVrf` command obeys ([`evpnd_node::validate::vrf`]); the error names the
//! key (`vrf[0].l3vni`, `vrf[1].route[0].via`).
//!
//! ```toml
//! [[vrf]]
//! name = "red"
//! l3vni = 5000
//! rd = "198.18.0.1:5000"
//! import-route-targets = ["65000:5000"]
//! export-route-targets = ["65000:5000"]
//! router-mac = "02:00:c6:12:00:01"
//! advertise-connected = true
//! advertise = ["203.0.113.0/24"]
//! netns = "h1-red"     # namespace model
//! table = 5000         # VRF-device model
//! [[vrf.route]]
//! prefix = "203.0.113.0/24"
//! via = "198.51.100.20"
//! ```

use super::evpn::{export_targets, import_rules};
use super::{err, ConfigError};
use evpnd_evpn::{EngineConfig, ResolvedVrf, VrfConfig, VrfStaticRoute};
use evpnd_node::{validate, CommandError};
use evpnd_wire::{IpPrefix, MacAddress, RouteDistinguisher, Vni};
use serde::Deserialize;
use std::net::IpAddr;

/// One `[[vrf]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawVrf {
    name: String,
    l3vni: Option<u32>,
    rd: Option<String>,
    import_route_targets: Option<Vec<String>>,
    export_route_targets: Option<Vec<String>>,
    router_mac: Option<String>,
    advertise_connected: Option<bool>,
    #[serde(default)]
    advertise: Vec<String>,
    /// Kernel data plane, namespace model: the VRF's network namespace.
    pub(super) netns: Option<String>,
    /// Kernel data plane, VRF-device model: the routing table.
    pub(super) table: Option<u32>,
    #[serde(default)]
    route: Vec<RawVrfRoute>,
}

impl RawVrf {
    /// The name as written.
    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

/// One `[[vrf.route]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawVrfRoute {
    prefix: String,
    via: IpAddr,
}

/// `key.field: message` for a node validation error.
fn keyed(key: &str, e: CommandError) -> ConfigError {
    ConfigError(format!("{key}.{}: {}", e.field, e.message))
}

fn prefix(key: &str, text: &str) -> Result<IpPrefix, ConfigError> {
    text.parse::<IpPrefix>()
        .map_err(|e| ConfigError(format!("{key}: {e}")))
}

/// One VRF as configured (its routes are judged against the VNIs' gateways later).
fn vrf(key: &str, engine: &EngineConfig, v: &RawVrf) -> Result<VrfConfig, ConfigError> {
    let name = validate::vrf_name("name", &v.name).map_err(|e| keyed(key, e))?;
    let l3vni = validate::l3vni(engine.irb, v.l3vni).map_err(|e| keyed(key, e))?;
    let mut c = VrfConfig::new(name, l3vni);
    if let Some(rd) = &v.rd {
        c.rd = Some(
            rd.parse::<RouteDistinguisher>()
                .map_err(|e| ConfigError(format!("{key}.rd: {e}")))?,
        );
    }
    if let Some(list) = &v.import_route_targets {
        c.import = import_rules(key, list, "ASN:L3VNI")?;
    }
    if let Some(list) = &v.export_route_targets {
        c.export = export_targets(key, list, "ASN:L3VNI")?;
    }
    if let Some(m) = &v.router_mac {
        let mac: MacAddress = m
            .parse()
            .map_err(|e| ConfigError(format!("{key}.router-mac: {e}")))?;
        validate::router_mac("router-mac", mac).map_err(|e| keyed(key, e))?;
        c.router_mac = Some(mac);
    }
    c.advertise_connected = v.advertise_connected.unwrap_or(true);
    for (j, p) in v.advertise.iter().enumerate() {
        let p = prefix(&format!("{key}.advertise[{j}]"), p)?;
        if !c.advertise.contains(&p) {
            c.advertise.push(p);
        }
    }
    for (j, r) in v.route.iter().enumerate() {
        let rkey = format!("{key}.route[{j}]");
        let route = VrfStaticRoute {
            prefix: prefix(&format!("{rkey}.prefix"), &r.prefix)?,
            via: r.via,
        };
        if c.routes.iter().any(|o| o == &route) {
            return err(format!("{rkey}: configured twice"));
        }
        c.routes.push(route);
    }
    Ok(c)
}

/// Every `[[vrf]]`, each judged against the ones before it and the L2VNIs `l2vnis`.
pub(super) fn vrfs(
    engine: &EngineConfig,
    raw: &[RawVrf],
    l2vnis: &[Vni],
) -> Result<Vec<VrfConfig>, ConfigError> {
    let mut out: Vec<VrfConfig> = Vec::with_capacity(raw.len());
    let mut resolved: Vec<ResolvedVrf> = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        let key = format!("vrf[{i}]");
        let c = vrf(&key, engine, v)?;
        validate::vrf(engine, &resolved, l2vnis.iter().copied(), &c).map_err(|e| keyed(&key, e))?;
        resolved.push(ResolvedVrf::resolve(engine, &c));
        out.push(c);
    }
    Ok(out)
}

/// The configured routes of each VRF against the gateway subnets of its VNIs.
pub(super) fn check_routes(
    vrfs: &[VrfConfig],
    evis: &[evpnd_evpn::EviConfig],
) -> Result<(), ConfigError> {
    for (i, v) in vrfs.iter().enumerate() {
        let subnets: Vec<IpPrefix> = evis
            .iter()
            .filter(|e| e.vrf == Some(v.name))
            .flat_map(|e| e.gateways.iter().filter_map(|g| g.subnet()))
            .collect();
        validate::vrf_routes(v, &subnets).map_err(|e| keyed(&format!("vrf[{i}]"), e))?;
    }
    Ok(())
}
