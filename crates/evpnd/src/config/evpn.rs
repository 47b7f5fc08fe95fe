//! `[evpn]`, `[[vni]]` and `[[endpoint]]`: the EVPN engine of an NVE. Each EVI and endpoint is
//! checked with the rules a run-time command obeys ([`evpnd_node::validate`]); the error names
//! the key (`vni[1].rd`, `endpoint[2].mac`).

use super::{err, ConfigError};
use evpnd_evpn::{
    Attachment, DuplicateDetection, EngineConfig, EviConfig, Freeze, ImportTarget, PortName,
    ResolvedEvi, RtDerivation,
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
        if list.is_empty() {
            return err(format!(
                "{key}.import-route-targets: empty (leave it out for the auto-derived ASN:VNI)"
            ));
        }
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
    Ok(evi)
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
    endpoints: &[RawEndpoint],
) -> Result<Option<EvpnConfig>, ConfigError> {
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
    validate::vtep(vtep).map_err(|e| keyed("evpn", e))?;
    let mut engine = EngineConfig::new(asn, router_id, vtep);
    engine.duplicate_detection = duplicate_detection(raw)?;
    engine.rt_derivation = rt_derivation(raw)?;

    let mut evis: Vec<EviConfig> = Vec::new();
    for (i, v) in vnis.iter().enumerate() {
        let key = format!("vni[{i}]");
        let e = evi(&key, v)?;
        let before = evis.iter().map(|o| ResolvedEvi::resolve(&engine, o));
        validate::evi(&engine, before, &e).map_err(|x| keyed(&key, x))?;
        evis.push(e);
    }
    let mut attachments: Vec<Attachment> = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        let a = endpoint(&format!("endpoint[{i}]"), e, &evis, &attachments)?;
        attachments.push(a);
    }
    Ok(Some(EvpnConfig {
        engine,
        evis,
        endpoints: attachments,
    }))
}
