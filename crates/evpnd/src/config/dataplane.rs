//! `[dataplane]` and the data-plane keys of `[[vni]]`: where the EVPN engine's intents go.
//!
//! ```toml
//! [dataplane]
//! kind = "linux"            # "linux" | "memory" | "none"
//! model = "per-vni"         # or "single-vxlan" (one `external vnifilter` device)
//! learning = true           # report MACs the kernel learns on tenant ports
//! udp-port = 4789           # VXLAN destination port (RFC 7348 §5)
//! sweep-after = 600         # seconds: sweep stale entries even if never synced
//! bridge = "br-evpn"        # single-vxlan model: the bridge's name
//! vxlan-device = "vx-evpn"  # single-vxlan model: the VXLAN device's name
//! vrf-model = "auto"        # tenant VRFs: "auto" | "namespace" | "device"
//! ```
//!
//! and the kernel keys of `[[vrf]]`: `netns` (namespace model) and `table` (VRF-device model).

use super::evpn::RawVni;
use super::vrf::RawVrf;
use super::{err, ConfigError};
use evpnd_dataplane::linux::{DeviceModel, LinuxConfig, VniOptions, VrfModel, VrfOptions};
use evpnd_evpn::PortName;
use evpnd_node::EvpnConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// `[dataplane]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawDataplane {
    kind: Option<String>,
    /// The VTEP of static routes when the EVPN engine is off.
    pub(super) vtep: Option<IpAddr>,
    model: Option<String>,
    learning: Option<bool>,
    udp_port: Option<u16>,
    sweep_after: Option<u64>,
    bridge: Option<String>,
    vxlan_device: Option<String>,
    vrf_model: Option<String>,
}

/// Which data plane receives the EVPN engine's intents (`[dataplane] kind`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataplaneKind {
    /// Intents are dropped (control plane only).
    None,
    /// Intents are applied to in-memory tables (tests, `evpnctl show dataplane`).
    Memory,
    /// The Linux kernel, over netlink.
    Linux(Box<LinuxConfig>),
}

/// A device name: the rules of an interface name.
fn device_name(key: &str, name: &str) -> Result<String, ConfigError> {
    PortName::new(name)
        .map(|p| p.as_str().to_string())
        .map_err(|e| ConfigError(format!("{key}: {e}")))
}

/// Builds the data plane choice from `[dataplane]`, the `[[vni]]` device keys and the engine.
pub(super) fn dataplane(
    raw: &RawDataplane,
    vnis: &[RawVni],
    vrfs: &[RawVrf],
    evpn: Option<&EvpnConfig>,
) -> Result<DataplaneKind, ConfigError> {
    let kind = raw.kind.as_deref().unwrap_or("none");
    let linux_keys = [
        ("model", raw.model.is_some()),
        ("learning", raw.learning.is_some()),
        ("udp-port", raw.udp_port.is_some()),
        ("sweep-after", raw.sweep_after.is_some()),
        ("bridge", raw.bridge.is_some()),
        ("vxlan-device", raw.vxlan_device.is_some()),
        ("vrf-model", raw.vrf_model.is_some()),
    ];
    if kind != "linux" {
        if let Some((k, _)) = linux_keys.iter().find(|(_, set)| *set) {
            return err(format!(
                "dataplane.{k}: only with kind = \"linux\" (kind is {kind:?})"
            ));
        }
        if let Some((i, _)) = vnis.iter().enumerate().find(|(_, v)| {
            let (b, x, l) = v.device_keys();
            b.is_some() || x.is_some() || l.is_some()
        }) {
            return err(format!(
                "vni[{i}]: bridge, vxlan-device and learning need [dataplane] kind = \"linux\""
            ));
        }
        if let Some((i, _)) = vrfs
            .iter()
            .enumerate()
            .find(|(_, v)| v.netns.is_some() || v.table.is_some())
        {
            return err(format!(
                "vrf[{i}]: netns and table need [dataplane] kind = \"linux\""
            ));
        }
    }
    match kind {
        "none" => Ok(DataplaneKind::None),
        "memory" => Ok(DataplaneKind::Memory),
        "linux" => linux(raw, vnis, vrfs, evpn).map(|c| DataplaneKind::Linux(Box::new(c))),
        k => err(format!(
            "dataplane.kind: unknown kind {k:?} (\"linux\", \"memory\", \"none\")"
        )),
    }
}

fn linux(
    raw: &RawDataplane,
    vnis: &[RawVni],
    vrfs: &[RawVrf],
    evpn: Option<&EvpnConfig>,
) -> Result<LinuxConfig, ConfigError> {
    let Some(evpn) = evpn else {
        return err("dataplane.kind: \"linux\" needs the EVPN engine ([evpn] vtep and [[vni]])");
    };
    let mut c = LinuxConfig::new(evpn.engine.vtep);
    c.model = match raw.model.as_deref() {
        None | Some("per-vni") => {
            for k in ["bridge", "vxlan-device"] {
                let set = if k == "bridge" {
                    raw.bridge.is_some()
                } else {
                    raw.vxlan_device.is_some()
                };
                if set {
                    return err(format!(
                        "dataplane.{k}: only with model = \"single-vxlan\" (per-VNI names go in [[vni]])"
                    ));
                }
            }
            DeviceModel::PerVni
        }
        Some("single-vxlan") => DeviceModel::SingleVxlan {
            bridge: device_name(
                "dataplane.bridge",
                raw.bridge.as_deref().unwrap_or("br-evpn"),
            )?,
            vxlan: device_name(
                "dataplane.vxlan-device",
                raw.vxlan_device.as_deref().unwrap_or("vx-evpn"),
            )?,
        },
        Some(m) => {
            return err(format!(
                "dataplane.model: {m:?} (\"per-vni\" or \"single-vxlan\")"
            ))
        }
    };
    if let Some(p) = raw.udp_port {
        if p == 0 {
            return err("dataplane.udp-port: 0 (a UDP port, usually 4789)");
        }
        c.udp_port = p;
    }
    if let Some(l) = raw.learning {
        c.learning = l;
    }
    if let Some(s) = raw.sweep_after {
        if s == 0 {
            return err("dataplane.sweep-after: 0 seconds (must be above 0)");
        }
        c.sweep_after = Duration::from_secs(s);
    }
    let single = matches!(c.model, DeviceModel::SingleVxlan { .. });
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |key: String, name: String| -> Result<String, ConfigError> {
        if let Some(other) = names.insert(name.clone(), key.clone()) {
            return err(format!("{key}: {name:?} is also {other}"));
        }
        Ok(name)
    };
    if let DeviceModel::SingleVxlan { bridge, vxlan } = &c.model {
        claim("dataplane.bridge".into(), bridge.clone())?;
        claim("dataplane.vxlan-device".into(), vxlan.clone())?;
    }
    for (i, v) in vnis.iter().enumerate() {
        let (bridge, vxlan, learning) = v.device_keys();
        if single && (bridge.is_some() || vxlan.is_some()) {
            return err(format!(
                "vni[{i}]: bridge and vxlan-device are per-VNI names; model = \"single-vxlan\" uses dataplane.bridge and dataplane.vxlan-device"
            ));
        }
        let n = v.number();
        let mut o = VniOptions {
            learning,
            ..VniOptions::default()
        };
        if !single {
            let b = device_name(
                &format!("vni[{i}].bridge"),
                bridge.unwrap_or(&format!("br{n}")),
            )?;
            let x = device_name(
                &format!("vni[{i}].vxlan-device"),
                vxlan.unwrap_or(&format!("vx{n}")),
            )?;
            o.bridge = Some(claim(format!("vni[{i}].bridge"), b)?);
            o.vxlan = Some(claim(format!("vni[{i}].vxlan-device"), x)?);
        }
        c.vnis.insert(n, o);
    }
    c.vrf_model = match raw.vrf_model.as_deref() {
        None | Some("auto") => VrfModel::Auto,
        Some("namespace") => VrfModel::Namespace,
        Some("device") => VrfModel::Device,
        Some(m) => {
            return err(format!(
                "dataplane.vrf-model: {m:?} (\"auto\", \"namespace\" or \"device\")"
            ))
        }
    };
    let mut netns_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut table_of: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, v) in vrfs.iter().enumerate() {
        if let Some(ns) = &v.netns {
            netns_name(&format!("vrf[{i}].netns"), ns)?;
            if let Some(j) = netns_of.insert(ns.clone(), i) {
                return err(format!("vrf[{i}].netns: {ns:?} is also vrf[{j}].netns"));
            }
        }
        if let Some(t) = v.table {
            // 0 is unspecified, 253..=255 are the kernel's default, main and local tables.
            if t == 0 || (253..=255).contains(&t) {
                return err(format!(
                    "vrf[{i}].table: {t} is reserved (0 and 253..=255 are the kernel's own)"
                ));
            }
            if let Some(j) = table_of.insert(t, i) {
                return err(format!("vrf[{i}].table: {t} is also vrf[{j}].table"));
            }
        }
        let o = VrfOptions {
            netns: v.netns.clone(),
            table: v.table,
        };
        if !o.is_default() {
            c.vrfs.insert(v.name().to_string(), o);
        }
    }
    Ok(c)
}

/// A network namespace name as `ip netns` accepts it: 1 to 255 bytes, no `/`, not `.` or `..`
/// (it names a file under /run/netns).
fn netns_name(key: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 255 || name.contains('/') || name == "." || name == ".." {
        return err(format!(
            "{key}: {name:?} is not a namespace name (1 to 255 bytes, no '/')"
        ));
    }
    if name.contains(char::is_whitespace) || name.contains('\0') {
        return err(format!("{key}: {name:?} contains whitespace or NUL"));
    }
    Ok(())
}
