//! `[evpn]`, `[[vni]]` and `[[endpoint]]`: the EVPN engine of an NVE (with the tenant VRFs of
//! `[[vrf]]`, parsed in `vrf.rs`). Each EVI and endpoint is
//! checked with the rules a run-time command obeys ([`evpnd_node::validate`]); the error names
//! the key (`vni[1].rd`, `endpoint[2].mac`).

use super::vrf::RawVrf;
use super::{err, ConfigError};
use evpnd_evpn::{
    Attachment, DuplicateDetection, EngineConfig, EviConfig, Freeze, ImportTarget, IrbMode,
    PortName, ResolvedEvi, ResolvedVrf, RtDerivation,
};
use evpnd_node::{validate, CommandError, EvpnConfig};
use evpnd_wire::community::RouteTarget;
use evpnd_wire::{MacAddress, RouteDistinguisher, Vni};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// `[evpn]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawEvpn {
    vtep: Option<IpAddr>,
    duplicate_detection: Option<bool>,
    dup_max_moves: Option<u32>,
    dup_window: Option<u64>,
    dup_freeze: Option<RawFreeze>,
    route_target_derivation: Option<String>,
    domain_id: Option<u8>,
    /// `"symmetric"` (default) or `"asymmetric"` (RFC 9135 §4).
    irb: Option<String>,
    /// The distributed anycast gateway MAC (RFC 9135 §4.1).
    anycast_gateway_mac: Option<String>,
}

/// `dup-freeze`: seconds, or the word "permanent".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawFreeze {
    Seconds(i64),
    Word(String),
}

/// One `[[vni]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawVni {
    vni: u32,
    rd: Option<String>,
    import_route_targets: Option<Vec<String>>,
    export_route_targets: Option<Vec<String>>,
    /// Kernel data plane: the bridge's name (default `br<vni>`).
    bridge: Option<String>,
    /// Kernel data plane: the VXLAN device's name (default `vx<vni>`).
    vxlan_device: Option<String>,
    /// Kernel data plane: report MACs the kernel learns in this VNI.
    learning: Option<bool>,
    /// The tenant VRF of the VNI's IRB interface (RFC 9135 §3).
    vrf: Option<String>,
    /// Anycast gateway addresses, `ADDRESS/LENGTH` (RFC 9135 §4.1); only with `vrf`.
    #[serde(default)]
    gateway: Vec<String>,
}

impl RawVni {
    /// The VNI number as written.
    pub(super) fn number(&self) -> u32 {
        self.vni
    }

    /// The data-plane keys: (bridge, vxlan-device, learning).
    pub(super) fn device_keys(&self) -> (Option<&str>, Option<&str>, Option<bool>) {
        (
            self.bridge.as_deref(),
            self.vxlan_device.as_deref(),
            self.learning,
        )
    }
}

/// One `[[endpoint]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawEndpoint {
    vni: u32,
    mac: String,
    ip: Option<IpAddr>,
    #[serde(default)]
    sticky: bool,
    #[serde(default)]
    router: bool,
    #[serde(default)]
    static_binding: bool,
    /// The host interface the endpoint sits behind.
    interface: Option<String>,
}

/// `key.field: message` for a node validation error.
fn keyed(key: &str, e: CommandError) -> ConfigError {
    ConfigError(format!("{key}.{}: {}", e.field, e.message))
}

fn duplicate_detection(raw: &RawEvpn) -> Result<DuplicateDetection, ConfigError> {
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
        Some(RawFreeze::Seconds(s)) => {
            dd.freeze = Freeze::For(Duration::from_secs(s.unsigned_abs()))
        }
    }
    Ok(dd)
}

fn rt_derivation(raw: &RawEvpn) -> Result<RtDerivation, ConfigError> {
    match raw.route_target_derivation.as_deref() {
        None | Some("asn-vni") => {
            if raw.domain_id.is_some() {
                return err("evpn.domain-id: only with route-target-derivation = \"rfc8365\"");
            }
            Ok(RtDerivation::AsnVni)
        }
        Some("rfc8365") => match raw.domain_id.unwrap_or(0) {
            d @ 0..=15 => Ok(RtDerivation::Rfc8365 { domain_id: d }),
            d => err(format!("evpn.domain-id: {d} (0..=15, 4 bits)")),
        },
        Some(other) => err(format!(
            "evpn.route-target-derivation: {other:?} (\"asn-vni\" or \"rfc8365\")"
        )),
    }
}

fn evi(key: &str, v: &RawVni) -> Result<EviConfig, ConfigError> {
    let vni = Vni::new(v.vni).map_err(|e| ConfigError(format!("{key}.vni: {e}")))?;
    let mut evi = EviConfig::new(vni);
    if let Some(rd) = &v.rd {
        evi.rd = Some(
            rd.parse::<RouteDistinguisher>()
                .map_err(|e| ConfigError(format!("{key}.rd: {e}")))?,
        );
    }
    if let Some(list) = &v.import_route_targets {
        evi.import = import_rules(key, list, "ASN:VNI")?;
    }
    if let Some(list) = &v.export_route_targets {
        evi.export = export_targets(key, list, "ASN:VNI")?;
    }
    if let Some(name) = &v.vrf {
        evi.vrf = Some(validate::vrf_name("vrf", name).map_err(|e| keyed(key, e))?);
    }
    for g in &v.gateway {
        let g = validate::gateway_text(g).map_err(|e| keyed(key, e))?;
        if !evi.gateways.contains(&g) {
            evi.gateways.push(g);
        }
    }
    Ok(evi)
}

/// `import-route-targets` of a `[[vni]]` or `[[vrf]]` (`key`): exact targets and `*:VNI`
/// wildcards, without repeats; empty is refused (`auto` names what leaving it out derives).
pub(super) fn import_rules(
    key: &str,
    list: &[String],
    auto: &str,
) -> Result<Vec<ImportTarget>, ConfigError> {
    if list.is_empty() {
        return err(format!(
            "{key}.import-route-targets: empty (leave it out for the auto-derived {auto})"
        ));
    }
    let mut out = Vec::new();
    for t in list {
        let rule = match t.strip_prefix("*:") {
            Some(n) => ImportTarget::AnyAs(n.parse::<Vni>().map_err(|e| {
                ConfigError(format!(
                    "{key}.import-route-targets: {t:?}: the wildcard needs a VNI: {e}"
                ))
            })?),
            None => ImportTarget::Exact(
                t.parse::<RouteTarget>()
                    .map_err(|e| ConfigError(format!("{key}.import-route-targets: {e}")))?,
            ),
        };
        if !out.contains(&rule) {
            out.push(rule);
        }
    }
    Ok(out)
}

/// `export-route-targets` of a `[[vni]]` or `[[vrf]]` (`key`), without repeats; empty is
/// refused.
pub(super) fn export_targets(
    key: &str,
    list: &[String],
    auto: &str,
) -> Result<Vec<RouteTarget>, ConfigError> {
    if list.is_empty() {
        return err(format!(
            "{key}.export-route-targets: empty (leave it out for the auto-derived {auto})"
        ));
    }
    let mut out = Vec::new();
    for t in list {
        let rt = t
            .parse::<RouteTarget>()
            .map_err(|e| ConfigError(format!("{key}.export-route-targets: {e}")))?;
        if !out.contains(&rt) {
            out.push(rt);
        }
    }
    Ok(out)
}

fn irb(raw: &RawEvpn) -> Result<IrbMode, ConfigError> {
    match raw.irb.as_deref() {
        None | Some("symmetric") => Ok(IrbMode::Symmetric),
        Some("asymmetric") => Ok(IrbMode::Asymmetric),
        Some(other) => err(format!(
            "evpn.irb: {other:?} (\"symmetric\" or \"asymmetric\")"
        )),
    }
}

fn endpoint(
    key: &str,
    e: &RawEndpoint,
    evis: &[EviConfig],
    before: &[Attachment],
) -> Result<Attachment, ConfigError> {
    let Some(vni) = evis.iter().map(|v| v.vni).find(|v| v.get() == e.vni) else {
        return err(format!("{key}.vni: VNI {} has no [[vni]] section", e.vni));
    };
    let mac: MacAddress = e
        .mac
        .parse()
        .map_err(|x| ConfigError(format!("{key}.mac: {x}")))?;
    let a = Attachment {
        vni,
        mac,
        ip: e.ip,
        sticky: e.sticky,
        router: e.router,
        static_binding: e.static_binding,
        port: e
            .interface
            .as_deref()
            .map(PortName::new)
            .transpose()
            .map_err(|x| ConfigError(format!("{key}.interface: {x}")))?,
    };
    validate::attachment(&a).map_err(|x| keyed(key, x))?;
    let same_mac = |o: &&Attachment| o.vni == vni && o.mac == mac;
    if let Some(j) = before.iter().position(|o| same_mac(&o) && o.ip == e.ip) {
        return err(format!(
            "{key}: duplicate of endpoint[{j}] (same vni, mac and ip)"
        ));
    }
    if let Some(j) = before
        .iter()
        .position(|o| same_mac(&o) && o.sticky != e.sticky)
    {
        return err(format!(
            "{key}.sticky: differs from endpoint[{j}] with the same vni and mac"
        ));
    }
    if let Some(ip) = e.ip {
        if let Some(j) = before
            .iter()
            .position(|o| o.vni == vni && o.ip == Some(ip) && o.mac != mac)
        {
            return err(format!(
                "{key}.ip: {ip} is already bound to another MAC by endpoint[{j}]"
            ));
        }
    }
    Ok(a)
}

/// The engine settings: `None` when no VTEP is configured (engine off).
pub(super) fn evpn_config(
    asn: u32,
    router_id: Ipv4Addr,
    raw: Option<&RawEvpn>,
    vnis: &[RawVni],
    vrfs: &[RawVrf],
    endpoints: &[RawEndpoint],
) -> Result<Option<EvpnConfig>, ConfigError> {
    let Some(vtep) = raw.and_then(|r| r.vtep) else {
        if !vnis.is_empty() {
            return err("evpn.vtep: required when a [[vni]] is configured");
        }
        if !vrfs.is_empty() {
            return err("evpn.vtep: required when a [[vrf]] is configured");
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
    validate::vtep(vtep).map_err(|e| keyed("evpn", e))?;
    let mut engine = EngineConfig::new(asn, router_id, vtep);
    engine.duplicate_detection = duplicate_detection(raw)?;
    engine.rt_derivation = rt_derivation(raw)?;
    engine.irb = irb(raw)?;
    if let Some(m) = &raw.anycast_gateway_mac {
        let mac: MacAddress = m
            .parse()
            .map_err(|e| ConfigError(format!("evpn.anycast-gateway-mac: {e}")))?;
        validate::router_mac("anycast-gateway-mac", mac).map_err(|e| keyed("evpn", e))?;
        engine.anycast_gateway_mac = mac;
    }
    // The L2VNIs as written, so that an L3VNI equal to one is refused at its [[vrf]].
    let l2vnis: Vec<Vni> = vnis.iter().filter_map(|v| Vni::new(v.vni).ok()).collect();
    let vrf_configs = super::vrf::vrfs(&engine, vrfs, &l2vnis)?;
    let resolved_vrfs: Vec<ResolvedVrf> = vrf_configs
        .iter()
        .map(|v| ResolvedVrf::resolve(&engine, v))
        .collect();

    let mut evis: Vec<EviConfig> = Vec::new();
    let mut resolved: Vec<ResolvedEvi> = Vec::new();
    for (i, v) in vnis.iter().enumerate() {
        let key = format!("vni[{i}]");
        let e = evi(&key, v)?;
        validate::evi(&engine, resolved.iter().cloned(), &e).map_err(|x| keyed(&key, x))?;
        validate::evi_layer3(&resolved_vrfs, &resolved, &e).map_err(|x| keyed(&key, x))?;
        resolved.push(ResolvedEvi::resolve(&engine, &e));
        evis.push(e);
    }
    super::vrf::check_routes(&vrf_configs, &evis)?;
    let mut attachments: Vec<Attachment> = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        let a = endpoint(&format!("endpoint[{i}]"), e, &evis, &attachments)?;
        attachments.push(a);
    }
    Ok(Some(EvpnConfig {
        engine,
        vrfs: vrf_configs,
        evis,
        endpoints: attachments,
    }))
}
