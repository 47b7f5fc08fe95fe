//! The endpoint journal: the endpoints an orchestrator attached through the API, kept in the
//! state directory so that a restarted daemon (after a crash, an upgrade or a plain restart)
//! advertises them again at once instead of waiting for the orchestrator to repeat itself.
//! Without it, a restart would withdraw every API endpoint of the host when the graceful
//! restart ends (our End-of-RIB without them), which is traffic loss.
//!
//! The file (`endpoints-<router-id>.json`) is rewritten whole, through a temporary file and a
//! rename, at most once per driver step. An unreadable file is reported and set aside, never
//! fatal.

use evpnd_evpn::PortName;
use evpnd_node::{Command, EndpointSpec};
use evpnd_wire::MacAddress;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

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

/// The journal: what is attached, by (VNI, MAC, IP).
#[derive(Debug)]
pub struct EndpointJournal {
    path: PathBuf,
    entries: BTreeMap<(u32, MacAddress, Option<IpAddr>), EndpointSpec>,
    dirty: bool,
}

impl EndpointJournal {
    /// The journal of `router_id` in `state_dir`, with what an earlier run left (to attach
    /// again) and, if the file could not be read, why (the file is then renamed `.bad`).
    pub fn load(
        state_dir: &Path,
        router_id: &str,
    ) -> (EndpointJournal, Vec<EndpointSpec>, Option<String>) {
        let path = state_dir.join(format!("endpoints-{router_id}.json"));
        let mut j = EndpointJournal {
            path,
            entries: BTreeMap::new(),
            dirty: false,
        };
        let text = match std::fs::read_to_string(&j.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (j, Vec::new(), None),
            Err(e) => {
                let why = format!("cannot read {}: {e}", j.path.display());
                return (j, Vec::new(), Some(why));
            }
        };
        match parse(&text) {
            Ok(specs) => (j, specs, None),
            Err(e) => {
                let bad = j.path.with_extension("json.bad");
                let _ = std::fs::rename(&j.path, &bad);
                let why = format!("{}: {e}; set aside as {}", j.path.display(), bad.display());
                j.dirty = true;
                (j, Vec::new(), Some(why))
            }
        }
    }

    /// Records a command that succeeded: an attach adds its endpoint, a detach removes the MAC
    /// (or one IP binding), removing a VNI forgets its endpoints.
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
            Command::RemoveVni { vni } => self.entries.retain(|(v, _, _), _| *v != *vni),
            _ => return,
        }
        self.dirty = true;
    }

    /// Writes the file if anything changed since the last write.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let stored: Vec<Stored> = self
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
            .collect();
        let text = serde_json::to_string_pretty(&stored).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}

/// The stored endpoints; a bad entry makes the whole file bad (it was written by us).
fn parse(text: &str) -> Result<Vec<EndpointSpec>, String> {
    let stored: Vec<Stored> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    stored
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
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
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("evpnd-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn attached_endpoints_survive_a_restart_and_detached_ones_do_not() {
        let d = dir("roundtrip");
        let (mut j, before, err) = EndpointJournal::load(&d, "198.19.0.1");
        assert!(before.is_empty() && err.is_none());
        let mac1: MacAddress = "02:00:00:00:00:01".parse().unwrap();
        let mac2: MacAddress = "02:00:00:00:00:02".parse().unwrap();
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
        let (_, after, err) = EndpointJournal::load(&d, "198.19.0.1");
        assert!(err.is_none());
        assert_eq!(after, vec![a]);
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
        let (mut j, before, err) = EndpointJournal::load(&d, "198.19.0.1");
        assert!(before.is_empty());
        assert!(err.unwrap().contains("set aside"));
        assert!(d.join("endpoints-198.19.0.1.json.bad").exists());
        j.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("endpoints-198.19.0.1.json")).unwrap(),
            "[]"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
