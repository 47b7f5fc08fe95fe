//! The API journal: what an orchestrator made through the API — tenant VRFs (with their
//! kernel options), VNIs (with their data-plane device options), neighbours and attached
//! endpoints — kept in the state directory so that a
//! restarted daemon (after a crash, an upgrade or a plain restart) has them again at once
//! instead of waiting for the orchestrator to repeat itself. Without it, a restart would
//! withdraw every API endpoint of the host when the graceful restart ends (our End-of-RIB
//! without them), which is traffic loss.
//!
//! The file (`endpoints-<router-id>.json`, mode 0600: it may hold TCP-MD5 passwords) is
//! rewritten whole, through a temporary file and a rename, at most once per driver step. It
//! is a JSON object `{"version": 2, "vrfs": [...], "vnis": [...], "neighbors": [...],
//! "endpoints": [...]}` (a file without `vrfs` loads as before); VRFs, VNIs and neighbours are
//! stored as the fields of their `AddVrf` / `CreateVni` / `AddNeighbor` requests
//! and read back through the API's own parsing. A file of the first version (a JSON array of
//! endpoints) still loads. An unreadable file, or one naming an invalid object, is reported
//! and set aside, never fatal. Objects of the configuration file are never journaled.

use crate::control::NeighborSpec;
use evpnd_api::v1;
use evpnd_dataplane::{VniOptions, VrfOptions};
use evpnd_evpn::PortName;
use evpnd_node::{Command, EndpointSpec, VniSpec, VrfSpec};
use evpnd_wire::MacAddress;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The version this daemon writes.
const VERSION: u32 = 2;

/// One endpoint as stored.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    vni: u32,
    mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    #[serde(default)]
    sticky: bool,
    #[serde(default)]
    router: bool,
    #[serde(default)]
    static_binding: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface: Option<String>,
}

/// One VNI the API created: the fields of its `CreateVni` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct StoredVni {
    vni: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    rd: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    import_route_targets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    export_route_targets: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    bridge: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    vxlan_device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    learning: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    vrf: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gateways: Vec<String>,
}

/// One VRF the API created: the fields of its `AddVrf` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct StoredVrf {
    name: String,
    l3vni: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    rd: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    import_route_targets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    export_route_targets: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    router_mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    advertise_connected: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    advertise: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    netns: String,
    table: u32,
}

impl StoredVrf {
    fn new(spec: &VrfSpec, options: &VrfOptions) -> StoredVrf {
        StoredVrf {
            name: spec.name.clone(),
            l3vni: spec.l3vni.unwrap_or(0),
            rd: spec.rd.map(|rd| rd.to_string()).unwrap_or_default(),
            import_route_targets: spec.import.iter().map(crate::api::import_text).collect(),
            export_route_targets: spec.export.iter().map(|rt| rt.to_string()).collect(),
            router_mac: spec.router_mac.map(|m| m.to_string()).unwrap_or_default(),
            advertise_connected: Some(spec.advertise_connected),
            advertise: spec.advertise.iter().map(|p| p.to_string()).collect(),
            netns: options.netns.clone().unwrap_or_default(),
            table: options.table.unwrap_or(0),
        }
    }

    /// The spec and options, judged as an `AddVrf` request is.
    fn parse(&self) -> Result<(VrfSpec, VrfOptions), String> {
        crate::api::vrf_spec(&v1::AddVrfRequest {
            name: self.name.clone(),
            l3vni: self.l3vni,
            rd: self.rd.clone(),
            import_route_targets: self.import_route_targets.clone(),
            export_route_targets: self.export_route_targets.clone(),
            router_mac: self.router_mac.clone(),
            advertise_connected: self.advertise_connected,
            advertise: self.advertise.clone(),
            netns: self.netns.clone(),
            table: self.table,
        })
        .map_err(|e| format!("vrf {:?}: {}", self.name, e.message()))
    }
}

/// One neighbour the API added: the fields of its `AddNeighbor` request (0 / empty: the
/// default, as in the request).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct StoredNeighbor {
    address: String,
    remote_asn: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    families: Vec<String>,
    route_reflector_client: bool,
    passive: bool,
    hold_time: u32,
    port: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    local_address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    md5_password: String,
    ttl_security: u32,
    multihop: u32,
    graceful_restart: bool,
}

/// The file as written since version 2 (unknown fields of a later version are ignored).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct JournalFile {
    version: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vrfs: Vec<StoredVrf>,
    vnis: Vec<StoredVni>,
    neighbors: Vec<StoredNeighbor>,
    endpoints: Vec<Stored>,
}

impl StoredVni {
    fn new(spec: &VniSpec, options: &VniOptions) -> StoredVni {
        StoredVni {
            vni: spec.vni,
            rd: spec.rd.map(|rd| rd.to_string()).unwrap_or_default(),
            import_route_targets: spec.import.iter().map(crate::api::import_text).collect(),
            export_route_targets: spec.export.iter().map(|rt| rt.to_string()).collect(),
            bridge: options.bridge.clone().unwrap_or_default(),
            vxlan_device: options.vxlan.clone().unwrap_or_default(),
            learning: options.learning,
            vrf: spec.vrf.clone().unwrap_or_default(),
            gateways: spec
                .gateways
                .iter()
                .map(|g| format!("{}/{}", g.address, g.prefix_len))
                .collect(),
        }
    }

    /// The spec and options, judged as a `CreateVni` request is.
    fn parse(&self) -> Result<(VniSpec, VniOptions), String> {
        crate::api::vni_spec(&v1::CreateVniRequest {
            vni: self.vni,
            rd: self.rd.clone(),
            import_route_targets: self.import_route_targets.clone(),
            export_route_targets: self.export_route_targets.clone(),
            bridge: self.bridge.clone(),
            vxlan_device: self.vxlan_device.clone(),
            learning: self.learning,
            vrf: self.vrf.clone(),
            gateways: self.gateways.clone(),
        })
        .map_err(|e| format!("vni {}: {}", self.vni, e.message()))
    }
}

impl StoredNeighbor {
    fn new(s: &NeighborSpec) -> StoredNeighbor {
        let t = &s.transport;
        StoredNeighbor {
            address: s.address.to_string(),
            remote_asn: s.remote_asn,
            families: s.families.iter().map(|f| f.name().to_string()).collect(),
            route_reflector_client: s.route_reflector_client,
            passive: s.passive,
            hold_time: s.hold_time.map_or(0, u32::from),
            port: u32::from(t.port),
            local_address: t.local_address.map(|a| a.to_string()).unwrap_or_default(),
            md5_password: t.md5_password.clone().unwrap_or_default(),
            ttl_security: t.ttl_security.map_or(0, u32::from),
            multihop: t.multihop.map_or(0, u32::from),
            graceful_restart: s.graceful_restart,
        }
    }

    /// The spec, judged as an `AddNeighbor` request is.
    fn parse(&self) -> Result<NeighborSpec, String> {
        crate::api::neighbor_spec(&v1::AddNeighborRequest {
            address: self.address.clone(),
            remote_asn: self.remote_asn,
            families: self.families.clone(),
            route_reflector_client: self.route_reflector_client,
            passive: self.passive,
            hold_time: self.hold_time,
            port: self.port,
            local_address: self.local_address.clone(),
            md5_password: self.md5_password.clone(),
            ttl_security: self.ttl_security,
            multihop: self.multihop,
            graceful_restart: self.graceful_restart,
        })
        .map_err(|e| format!("neighbor {:?}: {}", self.address, e.message()))
    }
}

/// What an earlier run left, to be made again in this order: VRFs, VNIs, neighbours,
/// endpoints.
#[derive(Debug, Default)]
pub struct Restored {
    /// VRFs created through the API, with their kernel options.
    pub vrfs: Vec<(VrfSpec, VrfOptions)>,
    /// VNIs created through the API, with their device options.
    pub vnis: Vec<(VniSpec, VniOptions)>,
    /// Neighbours added through the API.
    pub neighbors: Vec<NeighborSpec>,
    /// Endpoints attached through the API.
    pub endpoints: Vec<EndpointSpec>,
}

/// The journal: what the API made, VNIs by number, neighbours by address, endpoints by
/// (VNI, MAC, IP).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    vrfs: BTreeMap<String, StoredVrf>,
    vnis: BTreeMap<u32, StoredVni>,
    neighbors: BTreeMap<IpAddr, StoredNeighbor>,
    entries: BTreeMap<(u32, MacAddress, Option<IpAddr>), EndpointSpec>,
    dirty: bool,
}

impl Journal {
    /// The journal of `router_id` in `state_dir`, with what an earlier run left (to make
    /// again, each recorded anew as it succeeds) and, if the file could not be read, why (the
    /// file is then renamed `.bad`). The journal starts empty and is rewritten at the first
    /// flush, so that what is not made again (refused, or in the configuration file now) is
    /// forgotten.
    pub fn load(state_dir: &Path, router_id: &str) -> (Journal, Restored, Option<String>) {
        let path = state_dir.join(format!("endpoints-{router_id}.json"));
        let mut j = Journal {
            path,
            vrfs: BTreeMap::new(),
            vnis: BTreeMap::new(),
            neighbors: BTreeMap::new(),
            entries: BTreeMap::new(),
            dirty: false,
        };
        let text = match std::fs::read_to_string(&j.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (j, Restored::default(), None)
            }
            Err(e) => {
                let why = format!("cannot read {}: {e}", j.path.display());
                return (j, Restored::default(), Some(why));
            }
        };
        j.dirty = true;
        match parse(&text) {
            Ok(restored) => (j, restored, None),
            Err(e) => {
                let bad = j.path.with_extension("json.bad");
                let _ = std::fs::rename(&j.path, &bad);
                let why = format!("{}: {e}; set aside as {}", j.path.display(), bad.display());
                (j, Restored::default(), Some(why))
            }
        }
    }

    /// Records a command that succeeded: an attach adds its endpoint, a detach removes the MAC
    /// (or one IP binding), removing a VNI forgets it and its endpoints, removing a neighbour
    /// forgets it. (VNIs and neighbours are recorded by [`Journal::record_vni`] and
    /// [`Journal::record_neighbor`]: only the API's, never the configuration file's.)
    pub fn record(&mut self, command: &Command) {
        match command {
            Command::Attach(spec) => {
                self.entries.insert((spec.vni, spec.mac, spec.ip), *spec);
            }
            Command::Detach { vni, mac, ip: None } => {
                self.entries
                    .retain(|(v, m, _), _| !(*v == *vni && *m == *mac));
            }
            Command::Detach {
                vni,
                mac,
                ip: Some(ip),
            } => {
                self.entries.remove(&(*vni, *mac, Some(*ip)));
            }
            Command::RemoveVni { vni } => {
                self.vnis.remove(vni);
                self.entries.retain(|(v, _, _), _| *v != *vni);
            }
            Command::RemoveNeighbor { address } => {
                self.neighbors.remove(address);
            }
            Command::RemoveVrf { name } => {
                self.vrfs.remove(name);
            }
            _ => return,
        }
        self.dirty = true;
    }

    /// Records a VNI the API created, with its device options.
    pub fn record_vni(&mut self, spec: &VniSpec, options: &VniOptions) {
        self.vnis.insert(spec.vni, StoredVni::new(spec, options));
        self.dirty = true;
    }

    /// Records a VRF the API created, with its kernel options.
    pub fn record_vrf(&mut self, spec: &VrfSpec, options: &VrfOptions) {
        self.vrfs
            .insert(spec.name.clone(), StoredVrf::new(spec, options));
        self.dirty = true;
    }

    /// Records a neighbour the API added.
    pub fn record_neighbor(&mut self, spec: &NeighborSpec) {
        self.neighbors
            .insert(spec.address, StoredNeighbor::new(spec));
        self.dirty = true;
    }

    /// Writes the file if anything changed since the last write.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let file = JournalFile {
            version: VERSION,
            vrfs: self.vrfs.values().cloned().collect(),
            vnis: self.vnis.values().cloned().collect(),
            neighbors: self.neighbors.values().cloned().collect(),
            endpoints: self
                .entries
                .values()
                .map(|s| Stored {
                    vni: s.vni,
                    mac: s.mac.to_string(),
                    ip: s.ip,
                    sticky: s.sticky,
                    router: s.router,
                    static_binding: s.static_binding,
                    interface: s.port.map(|p| p.as_str().to_string()),
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}

/// What the file holds; a bad entry makes the whole file bad (it was written by us).
fn parse(text: &str) -> Result<Restored, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let file: JournalFile = if value.is_array() {
        // Version 1: the endpoints alone.
        JournalFile {
            endpoints: serde_json::from_value(value).map_err(|e| e.to_string())?,
            ..JournalFile::default()
        }
    } else {
        serde_json::from_value(value).map_err(|e| e.to_string())?
    };
    Ok(Restored {
        vrfs: file
            .vrfs
            .iter()
            .map(StoredVrf::parse)
            .collect::<Result<_, _>>()?,
        vnis: file
            .vnis
            .iter()
            .map(StoredVni::parse)
            .collect::<Result<_, _>>()?,
        neighbors: file
            .neighbors
            .iter()
            .map(StoredNeighbor::parse)
            .collect::<Result<_, _>>()?,
        endpoints: file
            .endpoints
            .into_iter()
            .enumerate()
            .map(|(i, s)| endpoint(i, s))
            .collect::<Result<_, _>>()?,
    })
}

/// Endpoint `i` of the file.
fn endpoint(i: usize, s: Stored) -> Result<EndpointSpec, String> {
    let mac: MacAddress = s
        .mac
        .parse()
        .map_err(|e| format!("endpoint {i}: mac {:?}: {e}", s.mac))?;
    let port = s
        .interface
        .as_deref()
        .map(PortName::new)
        .transpose()
        .map_err(|e| format!("endpoint {i}: interface: {e}"))?;
    Ok(EndpointSpec {
        vni: s.vni,
        mac,
        ip: s.ip,
        sticky: s.sticky,
        router: s.router,
        static_binding: s.static_binding,
        port,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use evpnd_evpn::ImportTarget;
    use evpnd_node::Transport;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("evpnd-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mac(s: &str) -> MacAddress {
        s.parse().unwrap()
    }

    #[test]
    fn attached_endpoints_survive_a_restart_and_detached_ones_do_not() {
        let d = dir("roundtrip");
        let (mut j, before, err) = Journal::load(&d, "198.19.0.1");
        assert!(before.endpoints.is_empty() && err.is_none());
        let mac1 = mac("02:00:00:00:00:01");
        let mac2 = mac("02:00:00:00:00:02");
        let mut a = EndpointSpec::new(100, mac1, Some("192.0.2.1".parse().unwrap()));
        a.sticky = true;
        a.port = Some(PortName::new("t1v100").unwrap());
        j.record(&Command::Attach(a));
        j.record(&Command::Attach(EndpointSpec::new(100, mac2, None)));
        j.record(&Command::Attach(EndpointSpec::new(200, mac2, None)));
        j.record(&Command::Detach {
            vni: 100,
            mac: mac2,
            ip: None,
        });
        j.record(&Command::RemoveVni { vni: 200 });
        j.flush().unwrap();
        let (_, after, err) = Journal::load(&d, "198.19.0.1");
        assert!(err.is_none());
        assert_eq!(after.endpoints, vec![a]);
        let _ = std::fs::remove_dir_all(&d);
    }

    fn vni_300() -> (VniSpec, VniOptions) {
        (
            VniSpec {
                vni: 300,
                rd: Some("198.19.0.1:3".parse().unwrap()),
                import: vec![
                    ImportTarget::Exact("65000:300".parse().unwrap()),
                    ImportTarget::AnyAs(evpnd_wire::Vni::new(300).unwrap()),
                ],
                export: vec!["65000:300".parse().unwrap()],
                vrf: None,
                gateways: Vec::new(),
            },
            VniOptions {
                bridge: Some("br-t300".into()),
                vxlan: Some("vx-t300".into()),
                learning: Some(false),
            },
        )
    }

    fn neighbor(address: &str) -> NeighborSpec {
        NeighborSpec {
            address: address.parse().unwrap(),
            remote_asn: 65001,
            families: vec![evpnd_wire::Family::L2VPN_EVPN],
            route_reflector_client: true,
            passive: true,
            hold_time: Some(9),
            graceful_restart: true,
            transport: Transport {
                port: 1179,
                local_address: Some("127.0.0.1".parse().unwrap()),
                md5_password: Some("secret".into()),
                ttl_security: Some(1),
                multihop: None,
            },
        }
    }

    #[test]
    fn vnis_and_neighbours_round_trip_and_removals_forget_them() {
        let d = dir("objects");
        let (mut j, _, _) = Journal::load(&d, "198.19.0.1");
        let (spec, options) = vni_300();
        j.record_vni(&spec, &options);
        j.record_vni(
            &VniSpec {
                vni: 400,
                rd: None,
                import: Vec::new(),
                export: Vec::new(),
                vrf: None,
                gateways: Vec::new(),
            },
            &VniOptions::default(),
        );
        j.record_neighbor(&neighbor("127.0.0.9"));
        j.record_neighbor(&neighbor("127.0.0.10"));
        j.record(&Command::Attach(EndpointSpec::new(
            400,
            mac("02:00:00:00:00:04"),
            None,
        )));
        j.record(&Command::RemoveVni { vni: 400 });
        j.record(&Command::RemoveNeighbor {
            address: "127.0.0.10".parse().unwrap(),
        });
        j.flush().unwrap();
        let path = d.join("endpoints-198.19.0.1.json");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "it may hold TCP-MD5 passwords"
        );
        let (_, after, err) = Journal::load(&d, "198.19.0.1");
        assert!(err.is_none(), "{err:?}");
        assert_eq!(after.vnis, vec![(spec, options)]);
        let n = &after.neighbors;
        assert_eq!(n.len(), 1);
        let want = neighbor("127.0.0.9");
        assert_eq!(n[0].address, want.address);
        assert_eq!(n[0].remote_asn, want.remote_asn);
        assert_eq!(n[0].families, want.families);
        assert_eq!(
            (
                n[0].route_reflector_client,
                n[0].passive,
                n[0].graceful_restart
            ),
            (true, true, true)
        );
        assert_eq!(n[0].hold_time, Some(9));
        assert_eq!(n[0].transport, want.transport);
        assert!(after.endpoints.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn vrfs_and_their_vnis_round_trip_and_a_removed_vrf_is_forgotten() {
        let d = dir("vrfs");
        let (mut j, _, _) = Journal::load(&d, "198.19.0.1");
        let mut red = VrfSpec::new("red", Some(5000));
        red.rd = Some("198.19.0.1:5000".parse().unwrap());
        red.import = vec![ImportTarget::Exact("65000:5000".parse().unwrap())];
        red.export = vec!["65000:5000".parse().unwrap()];
        red.router_mac = Some(mac("02:00:c6:13:00:01"));
        red.advertise_connected = false;
        red.advertise = vec!["203.0.113.0/24".parse().unwrap()];
        let red_options = VrfOptions {
            netns: Some("h1-red".into()),
            table: Some(5000),
        };
        j.record_vrf(&red, &red_options);
        j.record_vrf(&VrfSpec::new("blue", Some(6000)), &VrfOptions::default());
        j.record(&Command::RemoveVrf {
            name: "blue".into(),
        });
        let mut vni = VniSpec::new(100);
        vni.vrf = Some("red".into());
        vni.gateways = vec![evpnd_node::validate::gateway_text("192.0.2.254/24").unwrap()];
        j.record_vni(&vni, &VniOptions::default());
        j.flush().unwrap();
        let (_, after, err) = Journal::load(&d, "198.19.0.1");
        assert!(err.is_none(), "{err:?}");
        assert_eq!(after.vrfs, vec![(red, red_options)]);
        assert_eq!(after.vnis, vec![(vni, VniOptions::default())]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_version_1_file_of_endpoints_alone_still_loads() {
        let d = dir("v1");
        std::fs::write(
            d.join("endpoints-198.19.0.1.json"),
            r#"[{"vni": 100, "mac": "02:00:00:00:00:01", "ip": "192.0.2.1", "sticky": true}]"#,
        )
        .unwrap();
        let (mut j, before, err) = Journal::load(&d, "198.19.0.1");
        assert!(err.is_none(), "{err:?}");
        assert!(before.vnis.is_empty() && before.neighbors.is_empty());
        assert_eq!(before.endpoints.len(), 1);
        assert!(before.endpoints[0].sticky);
        // Written back in the current version once the driver recorded it again.
        j.record(&Command::Attach(before.endpoints[0]));
        j.flush().unwrap();
        let text = std::fs::read_to_string(d.join("endpoints-198.19.0.1.json")).unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
        let (_, again, _) = Journal::load(&d, "198.19.0.1");
        assert_eq!(again.endpoints, before.endpoints);
        // A later version's unknown fields are ignored.
        std::fs::write(
            d.join("endpoints-198.19.0.1.json"),
            r#"{"version": 3, "vnis": [{"vni": 5, "future": 1}], "tunnels": []}"#,
        )
        .unwrap();
        let (_, later, err) = Journal::load(&d, "198.19.0.1");
        assert!(err.is_none(), "{err:?}");
        assert_eq!(later.vnis.len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_corrupt_journal_is_set_aside_not_fatal() {
        let d = dir("corrupt");
        std::fs::write(
            d.join("endpoints-198.19.0.1.json"),
            "[{\"vni\": 1, \"mac\": 7}",
        )
        .unwrap();
        let (mut j, before, err) = Journal::load(&d, "198.19.0.1");
        assert!(before.endpoints.is_empty());
        assert!(err.unwrap().contains("set aside"));
        assert!(d.join("endpoints-198.19.0.1.json.bad").exists());
        j.flush().unwrap();
        let (_, empty, err) = Journal::load(&d, "198.19.0.1");
        assert!(err.is_none());
        assert!(empty.vnis.is_empty() && empty.neighbors.is_empty() && empty.endpoints.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_journal_naming_an_invalid_object_is_set_aside() {
        for (name, text) in [
            (
                "badvni",
                r#"{"version": 2, "vnis": [{"vni": 300, "rd": "nope"}]}"#,
            ),
            (
                "badneighbor",
                r#"{"version": 2, "neighbors": [{"address": "x", "remote_asn": 1}]}"#,
            ),
        ] {
            let d = dir(name);
            std::fs::write(d.join("endpoints-198.19.0.1.json"), text).unwrap();
            let (_, before, err) = Journal::load(&d, "198.19.0.1");
            let err = err.unwrap();
            assert!(err.contains("set aside"), "{err}");
            assert!(before.vnis.is_empty() && before.neighbors.is_empty());
            assert!(d.join("endpoints-198.19.0.1.json.bad").exists());
            let _ = std::fs::remove_dir_all(&d);
        }
    }
}
