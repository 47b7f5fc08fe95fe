//! GoBGP (Debian's gobgpd, 3.10) inside a lab namespace, with its gRPC API on a unix socket
//! (no TCP port to clash between instances) and pprof disabled (it would bind :6060).
//!
//! GoBGP 3.10 handles type-2 routes in O(n²) (LAB-NOTES.md): keep its loads to a few ten
//! thousand routes.

use crate::error::{Context, LabError, Result};
use crate::frr::{instance_dir, remove_instance_dir, tail};
use crate::netns::Netns;
use crate::process::{run_with_timeout, Daemon};
use crate::wait::wait_until;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A type-2 (MAC/IP advertisement) route for `gobgp global rib add … macadv`.
#[derive(Clone, Debug)]
pub struct EvpnMacAdv {
    /// MAC address, e.g. "02:00:00:00:00:01".
    pub mac: String,
    /// IP address bound to the MAC; `None` sends "0.0.0.0" (no IP in the route).
    pub ip: Option<String>,
    /// Ethernet tag.
    pub etag: u32,
    /// Label 1 (the L2VNI with VXLAN).
    pub label: u32,
    /// Route distinguisher, e.g. "198.19.0.2:100".
    pub rd: String,
    /// Route targets, e.g. ["65000:100"].
    pub rts: Vec<String>,
    /// Next hop (the VTEP).
    pub nexthop: String,
}

/// A type-3 (inclusive multicast) route with a PMSI ingress-replication tunnel.
#[derive(Clone, Debug)]
pub struct EvpnMulticast {
    /// Originating router's IP (the VTEP).
    pub originator: String,
    /// Ethernet tag.
    pub etag: u32,
    /// Route distinguisher.
    pub rd: String,
    /// Route targets.
    pub rts: Vec<String>,
    /// The VNI carried in the PMSI tunnel attribute.
    pub vni: u32,
    /// Next hop.
    pub nexthop: String,
}

/// A type-5 (IP prefix) route.
#[derive(Clone, Debug)]
pub struct EvpnPrefix {
    /// Prefix, e.g. "203.0.113.0/24".
    pub prefix: String,
    /// Gateway IP ("0.0.0.0" for none).
    pub gateway: String,
    /// Ethernet tag.
    pub etag: u32,
    /// Label (the L3VNI).
    pub label: u32,
    /// Route distinguisher.
    pub rd: String,
    /// Route targets.
    pub rts: Vec<String>,
    /// Router's MAC extended community, if any.
    pub router_mac: Option<String>,
    /// Next hop.
    pub nexthop: String,
}

/// A running gobgpd. Dropping it stops the daemon and removes its directory.
#[derive(Debug)]
pub struct Gobgp {
    dir: PathBuf,
    sock: PathBuf,
    daemon: Option<Daemon>,
}

impl Gobgp {
    /// Starts gobgpd in `ns` with `config_toml` and waits (bounded by `timeout`) until its API
    /// answers.
    pub fn start(ns: &Netns, config_toml: &str, timeout: Duration) -> Result<Gobgp> {
        let dir = instance_dir("gobgp")?;
        let conf = dir.join("gobgpd.toml");
        std::fs::write(&conf, config_toml)?;
        let sock = dir.join("api.sock");
        let log = std::fs::File::create(dir.join("gobgpd.log"))?;
        let log2 = log.try_clone()?;
        let mut cmd = ns.command("gobgpd");
        cmd.args([
            "-f",
            &conf.display().to_string(),
            "-t",
            "toml",
            "--api-hosts",
            &format!("unix://{}", sock.display()),
            "--pprof-disable",
        ])
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
        let mut g = Gobgp {
            dir,
            sock,
            daemon: Some(Daemon::spawn("gobgpd", &mut cmd)?),
        };
        let ready = wait_until(timeout, Duration::from_millis(100), || {
            g.running() && g.cli(&["global"]).is_ok()
        });
        if ready.is_err() || !g.running() {
            return Err(LabError::new(format!(
                "gobgpd did not start: {}",
                tail(&g.dir.join("gobgpd.log"), 20)
            )));
        }
        Ok(g)
    }

    fn running(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(Daemon::is_running)
    }

    /// The instance directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// gobgpd's pid.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Daemon::pid)
    }

    /// The end of gobgpd's log.
    pub fn log(&self, lines: usize) -> String {
        tail(&self.dir.join("gobgpd.log"), lines)
    }

    /// Runs `gobgp --target unix://SOCKET ARGS…` (bounded to 60 s) and returns stdout. (The
    /// Debian 3.10 client's `-u PATH` does not reach a unix socket; `--target` does.)
    pub fn gobgp_cli(&self, args: &[&str]) -> Result<String> {
        self.cli(args)
    }

    /// Same as [`Gobgp::gobgp_cli`].
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        run_with_timeout(
            Command::new("gobgp")
                .args(["--target", &format!("unix://{}", self.sock.display())])
                .args(args),
            Duration::from_secs(60),
        )
        .context(format!("gobgp {}", args.join(" ")))
    }

    /// Runs `gobgp -j …` and parses the JSON output.
    pub fn cli_json(&self, args: &[&str]) -> Result<Value> {
        let mut a = vec!["-j"];
        a.extend_from_slice(args);
        let out = self.cli(&a)?;
        serde_json::from_str(&out).map_err(|e| {
            LabError::new(format!(
                "gobgp -j {}: not JSON ({e}): {}",
                args.join(" "),
                out.chars().take(300).collect::<String>()
            ))
        })
    }

    /// The session state of neighbour `addr` as GoBGP reports it (e.g. "established").
    pub fn neighbor_state(&self, addr: &str) -> Result<String> {
        let v = self.cli_json(&["neighbor", addr])?;
        let st = &v["state"]["session_state"];
        Ok(match st {
            Value::String(s) => s.to_lowercase(),
            // The protobuf enum: 6 is ESTABLISHED.
            Value::Number(n) if n.as_u64() == Some(6) => "established".into(),
            other => other.to_string(),
        })
    }

    /// Waits (bounded) until neighbour `addr` is established.
    pub fn wait_established(&self, addr: &str, timeout: Duration) -> Result<()> {
        wait_until(timeout, Duration::from_millis(200), || {
            self.neighbor_state(addr).is_ok_and(|s| s == "established")
        })
        .map_err(|e| {
            e.context(format!(
                "GoBGP neighbour {addr} not established ({:?}); log:\n{}",
                self.neighbor_state(addr),
                self.log(15)
            ))
        })
    }

    /// The EVPN routes of the global RIB (`gobgp -j global rib -a evpn`).
    pub fn evpn_rib(&self) -> Result<Value> {
        self.cli_json(&["global", "rib", "-a", "evpn"])
    }

    fn rib_evpn(&self, op: &str, spec: Vec<String>) -> Result<()> {
        let mut a: Vec<&str> = vec!["global", "rib", "-a", "evpn", op];
        a.extend(spec.iter().map(String::as_str));
        self.cli(&a).map(|_| ())
    }

    fn macadv_spec(r: &EvpnMacAdv) -> Vec<String> {
        let mut v = vec![
            "macadv".to_string(),
            r.mac.clone(),
            r.ip.clone().unwrap_or_else(|| "0.0.0.0".into()),
            "etag".into(),
            r.etag.to_string(),
            "label".into(),
            r.label.to_string(),
            "rd".into(),
            r.rd.clone(),
        ];
        push_route_targets(&mut v, &r.rts);
        v.extend([
            "encap".into(),
            "vxlan".into(),
            "nexthop".into(),
            r.nexthop.clone(),
        ]);
        v
    }

    /// Originates a type-2 route (`gobgp global rib -a evpn add macadv …`).
    pub fn add_evpn_macadv(&self, r: &EvpnMacAdv) -> Result<()> {
        self.rib_evpn("add", Self::macadv_spec(r))
    }

    /// Withdraws a type-2 route added with [`Gobgp::add_evpn_macadv`].
    pub fn del_evpn_macadv(&self, r: &EvpnMacAdv) -> Result<()> {
        self.rib_evpn("del", Self::macadv_spec(r))
    }

    /// Originates a type-2 route of symmetric IRB (RFC 9135 §5.1): label 1 the L2VNI of `r`,
    /// label 2 `l3vni`, and the Router's MAC extended community `router_mac` (RFC 9135 §8.1).
    pub fn add_evpn_macadv_irb(&self, r: &EvpnMacAdv, l3vni: u32, router_mac: &str) -> Result<()> {
        let mut spec = Self::macadv_spec(r);
        if let Some(i) = spec.iter().position(|a| a == "label") {
            if let Some(l) = spec.get_mut(i + 1) {
                *l = format!("{},{l3vni}", r.label);
            }
        }
        let at = spec.len().saturating_sub(2); // before "nexthop NH"
        spec.splice(at..at, ["router-mac".to_string(), router_mac.to_string()]);
        self.rib_evpn("add", spec)
    }

    /// Originates a type-3 route with PMSI ingress replication.
    pub fn add_evpn_multicast(&self, r: &EvpnMulticast) -> Result<()> {
        let mut v = vec![
            "multicast".to_string(),
            r.originator.clone(),
            "etag".into(),
            r.etag.to_string(),
            "rd".into(),
            r.rd.clone(),
        ];
        push_route_targets(&mut v, &r.rts);
        v.extend([
            "encap".into(),
            "vxlan".into(),
            "pmsi".into(),
            "ingress-repl".into(),
            r.vni.to_string(),
            r.originator.clone(),
            "nexthop".into(),
            r.nexthop.clone(),
        ]);
        self.rib_evpn("add", v)
    }

    fn prefix_spec(r: &EvpnPrefix) -> Vec<String> {
        let mut v = vec![
            "prefix".to_string(),
            r.prefix.clone(),
            "gw".into(),
            r.gateway.clone(),
            "etag".into(),
            r.etag.to_string(),
            "label".into(),
            r.label.to_string(),
            "rd".into(),
            r.rd.clone(),
        ];
        push_route_targets(&mut v, &r.rts);
        v.extend(["encap".into(), "vxlan".into()]);
        if let Some(m) = &r.router_mac {
            v.extend(["router-mac".into(), m.clone()]);
        }
        v.extend(["nexthop".into(), r.nexthop.clone()]);
        v
    }

    /// Originates a type-5 route (RFC 9136 §3; `gateway` is the GW-IP overlay index).
    pub fn add_evpn_prefix(&self, r: &EvpnPrefix) -> Result<()> {
        self.rib_evpn("add", Self::prefix_spec(r))
    }

    /// Withdraws a type-5 route added with [`Gobgp::add_evpn_prefix`].
    pub fn del_evpn_prefix(&self, r: &EvpnPrefix) -> Result<()> {
        self.rib_evpn("del", Self::prefix_spec(r))
    }
}

impl Drop for Gobgp {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.stop(Duration::from_secs(5));
        }
        remove_instance_dir(&self.dir);
    }
}

/// Appends `rt A B ...`: the gobgp CLI takes every route target after one `rt` keyword (a
/// second `rt` keyword replaces the first list instead of adding to it).
fn push_route_targets(args: &mut Vec<String>, rts: &[String]) {
    if !rts.is_empty() {
        args.push("rt".to_string());
        args.extend(rts.iter().cloned());
    }
}
