//! The devices under test: what a DUT is configured with ([`Topology`]), how a kind of DUT is
//! started ([`DutKind`]), and the three kinds the benchmark compares: FRR bgpd, GoBGP and
//! evpnd (or any daemon started from config templates).

use crate::error::{LabError, Result};
use crate::frr::{instance_dir, remove_instance_dir, tail, Frr, FrrOptions};
use crate::gobgp::Gobgp;
use crate::netns::Netns;
use crate::process::Daemon;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// One BGP neighbour of the DUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbor {
    /// The neighbour's address (on the tester side; it listens on port 179).
    pub addr: Ipv4Addr,
    /// Its AS.
    pub asn: u32,
    /// Whether it is a route-reflector client.
    pub rr_client: bool,
}

/// What a DUT must be configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The DUT's address.
    pub dut_addr: Ipv4Addr,
    /// The DUT's router id (also its cluster id).
    pub router_id: Ipv4Addr,
    /// The DUT's AS.
    pub asn: u32,
    /// Its neighbours, all L2VPN EVPN.
    pub neighbors: Vec<Neighbor>,
}

/// A running DUT; dropping it stops the DUT.
pub trait RunningDut {
    /// The process whose memory is measured.
    fn pid(&self) -> u32;
    /// Log excerpt for error messages.
    fn diagnostics(&self) -> String;
    /// Processes that must stay up while the DUT runs, by name (a run whose process dies is
    /// a failed run, reported as such rather than waited for).
    fn vital_pids(&self) -> Vec<(&'static str, u32)> {
        vec![("dut", self.pid())]
    }
    /// The DUT's own account of its kernel writes, when it keeps one: (entry requests
    /// written, seconds spent writing them).
    fn own_install(&self) -> Option<(u64, f64)> {
        None
    }
}

/// A kind of DUT: how to start it for a topology. Implement this for a new BGP daemon.
pub trait DutKind {
    /// Short name for tables ("frr", "gobgp", "evpnd").
    fn name(&self) -> String;
    /// Largest route count this DUT should be given (GoBGP 3.10 is quadratic).
    fn route_limit(&self) -> Option<usize> {
        None
    }
    /// External programs it needs.
    fn tools(&self) -> Vec<String>;
    /// Starts the DUT in `ns` configured for `topo`.
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>>;
}

/// FRR 8.4 `bgpd -Z` (no zebra) as route reflector.
#[derive(Clone, Debug, Default)]
pub struct FrrDut;

/// A running FRR instance (bgpd, and zebra when it was started with it).
pub(crate) struct FrrRunning(pub(crate) Frr);

impl RunningDut for FrrRunning {
    fn pid(&self) -> u32 {
        self.0.bgpd_pid().unwrap_or(0)
    }
    fn diagnostics(&self) -> String {
        let summary = self
            .0
            .vtysh("show bgp l2vpn evpn summary")
            .unwrap_or_default();
        let mut s = format!("{summary}\n{}", self.0.bgpd_log(10));
        if self.0.zebra_pid().is_some() {
            let zebra = tail(&self.0.dir().join("zebra.log"), 5);
            s.push_str(&format!("\nzebra:\n{zebra}"));
        }
        s
    }
    fn vital_pids(&self) -> Vec<(&'static str, u32)> {
        let mut v = vec![("bgpd", self.pid())];
        v.extend(self.0.zebra_pid().map(|p| ("zebra", p)));
        v
    }
}

impl FrrDut {
    /// The bgpd.conf for `topo`: one route-reflector instance, L2VPN EVPN only.
    pub fn config(topo: &Topology) -> String {
        let mut c = format!(
            "hostname dut\n!\nrouter bgp {}\n bgp router-id {}\n bgp cluster-id {}\n \
             no bgp default ipv4-unicast\n no bgp ebgp-requires-policy\n",
            topo.asn, topo.router_id, topo.router_id
        );
        for n in &topo.neighbors {
            c.push_str(&format!(
                " neighbor {0} remote-as {1}\n neighbor {0} timers connect 1\n",
                n.addr, n.asn
            ));
        }
        c.push_str(" address-family l2vpn evpn\n");
        for n in &topo.neighbors {
            c.push_str(&format!("  neighbor {} activate\n", n.addr));
            if n.rr_client {
                c.push_str(&format!("  neighbor {} route-reflector-client\n", n.addr));
            }
        }
        c.push_str(" exit-address-family\n!\n");
        c
    }
}

impl DutKind for FrrDut {
    fn name(&self) -> String {
        "frr".into()
    }
    fn tools(&self) -> Vec<String> {
        vec!["/usr/lib/frr/bgpd".into(), "vtysh".into()]
    }
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>> {
        let mut opts = FrrOptions::bgp_only(FrrDut::config(topo));
        opts.start_timeout = Duration::from_secs(30);
        Ok(Box::new(FrrRunning(Frr::start(ns, &opts)?)))
    }
}

/// GoBGP 3.10 `gobgpd` as route reflector. Loads are capped at 20 000 routes.
#[derive(Clone, Debug, Default)]
pub struct GobgpDut;

struct GobgpRunning(Gobgp);

impl RunningDut for GobgpRunning {
    fn pid(&self) -> u32 {
        self.0.pid().unwrap_or(0)
    }
    fn diagnostics(&self) -> String {
        let nb = self.0.cli(&["neighbor"]).unwrap_or_default();
        format!("{nb}\n{}", self.0.log(10))
    }
}

impl GobgpDut {
    /// The gobgpd TOML config for `topo`.
    pub fn config(topo: &Topology) -> String {
        let mut c = format!(
            "[global.config]\n  as = {}\n  router-id = \"{}\"\n  local-address-list = [\"{}\"]\n",
            topo.asn, topo.router_id, topo.dut_addr
        );
        for n in &topo.neighbors {
            c.push_str(&format!(
                "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    \
                 peer-as = {}\n  [neighbors.timers.config]\n    connect-retry = 1\n",
                n.addr, n.asn
            ));
            if n.rr_client {
                c.push_str(&format!(
                    "  [neighbors.route-reflector.config]\n    route-reflector-client = true\n    \
                     route-reflector-cluster-id = \"{}\"\n",
                    topo.router_id
                ));
            }
            c.push_str(
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      \
                 afi-safi-name = \"l2vpn-evpn\"\n",
            );
        }
        c
    }
}

impl DutKind for GobgpDut {
    fn name(&self) -> String {
        "gobgp".into()
    }
    fn route_limit(&self) -> Option<usize> {
        Some(20_000)
    }
    fn tools(&self) -> Vec<String> {
        vec!["gobgpd".into(), "gobgp".into()]
    }
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>> {
        Ok(Box::new(GobgpRunning(Gobgp::start(
            ns,
            &GobgpDut::config(topo),
            Duration::from_secs(30),
        )?)))
    }
}

/// evpnd (or any daemon) started from a binary and config templates.
///
/// The config template may contain `{ROUTER_ID}`, `{LOCAL_AS}`, `{LOCAL_ADDR}`, `{WORKDIR}`,
/// `{API_SOCKET}` and `{NEIGHBORS}`; the last is replaced by the neighbour template rendered
/// once per neighbour with `{NEIGHBOR_ADDR}`, `{NEIGHBOR_AS}` and `{RR_CLIENT}` (true/false).
/// The arguments may contain `{CONFIG}` (the rendered file), `{WORKDIR}` and `{API_SOCKET}`.
/// `{NETNS}` (the DUT's namespace) is replaced when the daemon starts, for VRF namespaces
/// named after it (`netns = "{NETNS}-bench"`, the type-5 benchmark).
#[derive(Clone, Debug)]
pub struct EvpndDut {
    /// Name in the tables.
    pub name: String,
    /// The daemon binary.
    pub binary: PathBuf,
    /// Config file template.
    pub config_template: String,
    /// Per-neighbour template.
    pub neighbor_template: String,
    /// Command-line arguments.
    pub args: Vec<String>,
}

struct EvpndRunning {
    daemon: Daemon,
    dir: PathBuf,
    /// `evpnctl` beside the evpnd binary, if built.
    evpnctl: Option<PathBuf>,
}

impl RunningDut for EvpndRunning {
    fn pid(&self) -> u32 {
        self.daemon.pid()
    }
    fn diagnostics(&self) -> String {
        tail(&self.dir.join("daemon.log"), 15)
    }
    /// From `evpnctl show vnis --json`: `dataplane_entries_written` and
    /// `dataplane_write_micros` (the backend's time in its netlink writes).
    fn own_install(&self) -> Option<(u64, f64)> {
        let evpnctl = self.evpnctl.as_ref()?;
        let api = format!("unix:{}", self.dir.join("api.sock").display());
        let mut cmd = std::process::Command::new(evpnctl);
        cmd.args(["--api", &api, "show", "vnis", "--json"]);
        let out = crate::process::run_output(&mut cmd, Duration::from_secs(10)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let c = &v["counters"];
        Some((
            c["dataplane_entries_written"].as_u64()?,
            c["dataplane_write_micros"].as_u64()? as f64 / 1e6,
        ))
    }
}

impl Drop for EvpndRunning {
    fn drop(&mut self) {
        self.daemon.stop(Duration::from_secs(5));
        remove_instance_dir(&self.dir);
    }
}

impl EvpndDut {
    /// The rendered config for `topo` with instance directory `dir`.
    pub fn render(&self, topo: &Topology, dir: &std::path::Path) -> String {
        let neighbors: String = topo
            .neighbors
            .iter()
            .map(|n| {
                self.neighbor_template
                    .replace("{NEIGHBOR_ADDR}", &n.addr.to_string())
                    .replace("{NEIGHBOR_AS}", &n.asn.to_string())
                    .replace("{RR_CLIENT}", if n.rr_client { "true" } else { "false" })
            })
            .collect();
        // Neighbours first, so that their template may use the DUT-wide placeholders too.
        self.subst(
            &self.config_template.replace("{NEIGHBORS}", &neighbors),
            dir,
        )
        .replace("{ROUTER_ID}", &topo.router_id.to_string())
        .replace("{LOCAL_AS}", &topo.asn.to_string())
        .replace("{LOCAL_ADDR}", &topo.dut_addr.to_string())
    }

    fn subst(&self, s: &str, dir: &std::path::Path) -> String {
        s.replace("{WORKDIR}", &dir.display().to_string())
            .replace("{API_SOCKET}", &dir.join("api.sock").display().to_string())
            .replace("{CONFIG}", &dir.join("config").display().to_string())
    }
}

impl DutKind for EvpndDut {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn tools(&self) -> Vec<String> {
        vec![self.binary.display().to_string()]
    }
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>> {
        let dir = instance_dir("dut")?;
        std::fs::write(
            dir.join("config"),
            self.render(topo, &dir).replace("{NETNS}", ns.name()),
        )?;
        let log = std::fs::File::create(dir.join("daemon.log"))?;
        let log2 = log.try_clone()?;
        let mut cmd = ns.command(&self.binary.display().to_string());
        for a in &self.args {
            cmd.arg(self.subst(a, &dir));
        }
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        let mut daemon = Daemon::spawn(self.name.clone(), &mut cmd)?;
        std::thread::sleep(Duration::from_millis(300));
        if !daemon.is_running() {
            let msg = tail(&dir.join("daemon.log"), 20);
            remove_instance_dir(&dir);
            return Err(LabError::new(format!("{} exited: {msg}", self.name)));
        }
        let evpnctl = Some(self.binary.with_file_name("evpnctl")).filter(|p| p.exists());
        Ok(Box::new(EvpndRunning {
            daemon,
            dir,
            evpnctl,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        Topology {
            dut_addr: Ipv4Addr::new(198, 18, 0, 1),
            router_id: Ipv4Addr::new(198, 19, 0, 1),
            asn: 65000,
            neighbors: vec![
                Neighbor {
                    addr: Ipv4Addr::new(198, 18, 0, 10),
                    asn: 65000,
                    rr_client: true,
                },
                Neighbor {
                    addr: Ipv4Addr::new(198, 18, 0, 11),
                    asn: 65001,
                    rr_client: false,
                },
            ],
        }
    }

    #[test]
    fn evpnd_templates_are_rendered() {
        let d = EvpndDut {
            name: "evpnd".into(),
            binary: "/bin/true".into(),
            config_template: "id={ROUTER_ID} as={LOCAL_AS} api={API_SOCKET}\n{NEIGHBORS}".into(),
            neighbor_template: "nb {NEIGHBOR_ADDR} {NEIGHBOR_AS} rr={RR_CLIENT}\n".into(),
            args: vec!["--config".into(), "{CONFIG}".into()],
        };
        let out = d.render(&topo(), std::path::Path::new("/w"));
        assert_eq!(
            out,
            "id=198.19.0.1 as=65000 api=/w/api.sock\nnb 198.18.0.10 65000 rr=true\n\
             nb 198.18.0.11 65001 rr=false\n"
        );
    }

    #[test]
    fn frr_and_gobgp_configs_name_every_neighbor() {
        let f = FrrDut::config(&topo());
        assert!(f.contains("neighbor 198.18.0.10 route-reflector-client"));
        assert!(!f.contains("neighbor 198.18.0.11 route-reflector-client"));
        assert!(f.contains("neighbor 198.18.0.11 remote-as 65001"));
        let g = GobgpDut::config(&topo());
        assert_eq!(g.matches("[[neighbors]]").count(), 2);
        assert_eq!(g.matches("route-reflector-client = true").count(), 1);
    }
}
