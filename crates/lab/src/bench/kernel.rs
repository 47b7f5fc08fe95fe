//! The kernel data-plane benchmark (`bgp-bench --scenario kernel-install`): how long a DUT
//! takes from the first UPDATE of N type-2 routes (VNI 100, one remote VTEP) to the moment the
//! kernel holds N remote-MAC FDB entries on its VXLAN device, and the same N entries installed
//! by the floor program (`crates/dataplane/examples/fdb_floor.rs`), which does nothing else.
//!
//! Topology: the usual two namespaces (`dut` 198.18.0.1, `tester` with the generator on
//! 198.18.0.10). The DUT must program `vx100` (in bridge `br100`) itself; for FRR the lab
//! creates both devices before zebra starts, evpnd creates them. The clock starts as the
//! generator begins writing; an [`FdbWatch`] in the DUT's namespace stops it.

use super::dut::FrrRunning;
use super::fdb_watch::{ifindex, FdbWatch};
use super::run::{load_avg, prepare_generator};
use super::{DutKind, Neighbor, RunningDut, Topology, BENCH_AS, FIRST_SPEAKER};
use crate::error::{Context, LabError, Result};
use crate::frr::{Frr, FrrOptions};
use crate::netns::{Lab, Netns, LAN_IF};
use crate::process::run_output;
use crate::routes::{RouteKind, L2_VNI};
use crate::speaker::{Session, SpeakerConfig, Tracking};
use crate::wait::wait_until;
use evpnd_wire::CodecContext;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

/// The bridge of the benchmark's VNI (evpnd's per-VNI default name).
pub const BRIDGE: &str = "br100";
/// The VXLAN device of the benchmark's VNI.
pub const VXLAN: &str = "vx100";

/// Creates `br100` and `vx100` (VNI 100, source `vtep`, port 4789, no learning) in `ns`, up,
/// the way evpnd's per-VNI model does; FRR needs them before zebra starts.
pub fn create_vni_devices(ns: &Netns, vtep: Ipv4Addr) -> Result<()> {
    let (vni, local) = (L2_VNI.to_string(), vtep.to_string());
    ns.ip(&["link", "add", BRIDGE, "type", "bridge"])?;
    ns.ip(&[
        "link",
        "add",
        VXLAN,
        "type",
        "vxlan",
        "id",
        &vni,
        "local",
        &local,
        "dstport",
        "4789",
        "nolearning",
    ])?;
    ns.ip(&["link", "set", VXLAN, "master", BRIDGE, "up"])?;
    ns.ip(&["link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// FRR 8.4 zebra + bgpd with `advertise-all-vni`: bgpd imports the routes into VNI 100 (route
/// target 65000:100) and zebra installs them in the kernel.
#[derive(Clone, Debug, Default)]
pub struct FrrKernelDut;

impl FrrKernelDut {
    /// The bgpd.conf for `topo`: iBGP, L2VPN EVPN, every VNI advertised, VNI 100's route
    /// targets set to the generator's.
    pub fn config(topo: &Topology) -> String {
        let mut c = format!(
            "hostname dut\n!\nrouter bgp {}\n bgp router-id {}\n no bgp default ipv4-unicast\n \
             no bgp ebgp-requires-policy\n",
            topo.asn, topo.router_id
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
        }
        c.push_str(&format!(
            "  advertise-all-vni\n  vni {L2_VNI}\n   route-target import 65000:{L2_VNI}\n   \
             route-target export 65000:{L2_VNI}\n  exit-vni\n exit-address-family\n!\n"
        ));
        c
    }
}

impl DutKind for FrrKernelDut {
    fn name(&self) -> String {
        "frr".into()
    }
    fn tools(&self) -> Vec<String> {
        vec![
            "/usr/lib/frr/bgpd".into(),
            "/usr/lib/frr/zebra".into(),
            "vtysh".into(),
        ]
    }
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>> {
        create_vni_devices(ns, topo.dut_addr)?;
        let mut opts = FrrOptions::with_zebra("hostname dut\n", FrrKernelDut::config(topo));
        opts.start_timeout = Duration::from_secs(30);
        Ok(Box::new(FrrRunning(Frr::start(ns, &opts)?)))
    }
}

/// How to run the kernel-install scenario.
#[derive(Clone, Debug)]
pub struct KernelOptions {
    /// Remote MACs (type-2 routes, one FDB entry each).
    pub routes: usize,
    /// Bound on the whole install after the load starts.
    pub timeout: Duration,
    /// Bound on the session coming up.
    pub session_timeout: Duration,
    /// Pause between Established and the load.
    pub settle: Duration,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions {
            routes: 100_000,
            timeout: Duration::from_secs(600),
            session_timeout: Duration::from_secs(60),
            settle: Duration::from_secs(2),
        }
    }
}

/// The measurements of one kernel-install run.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelResult {
    /// DUT name ("evpnd", "frr", "floor (batched)").
    pub dut: String,
    /// Remote MACs installed.
    pub routes: usize,
    /// First UPDATE written → the kernel holds every entry (for the floor: its first
    /// `sendmsg` → its last ACK, from its own report).
    pub seconds: f64,
    /// First UPDATE written → the first entry in the kernel (decode, import, first batch).
    pub first_entry_seconds: f64,
    /// First entry → last entry, as the watcher saw them: the kernel-install phase.
    pub install_seconds: f64,
    /// First UPDATE → the generator wrote its last byte (the DUT had read all but socket
    /// buffers).
    pub send_seconds: f64,
    /// Notifications were lost; times come from 100 ms dumps.
    pub overrun: bool,
    /// The 1-minute load average when the load started.
    pub load_avg: f64,
    /// The installer's own clock: seconds spent writing to the kernel, first `sendmsg` → last
    /// answer (the floor's report; evpnd's `dataplane_write_micros`), when it keeps one.
    pub own_seconds: Option<f64>,
}

impl KernelResult {
    /// Entries per second over the whole run.
    pub fn entries_per_sec(&self) -> f64 {
        self.routes as f64 / self.seconds.max(1e-9)
    }

    /// JSON for machine-readable reports.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "dut": self.dut, "scenario": format!("kernel-install {}", self.routes),
            "routes": self.routes, "seconds": self.seconds,
            "first_entry_seconds": self.first_entry_seconds,
            "install_seconds": self.install_seconds, "send_seconds": self.send_seconds,
            "own_seconds": self.own_seconds,
            "entries_per_sec": self.entries_per_sec(), "overrun": self.overrun,
            "load_avg": self.load_avg,
        })
    }
}

/// The table of kernel-install results, then the ratios the benchmark is about.
pub fn kernel_report(results: &[KernelResult]) -> String {
    let w = results
        .iter()
        .map(|r| r.dut.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut s = format!(
        "{:<w$} {:>8} {:>9} {:>11} {:>12} {:>9} {:>9} {:>5}\n",
        "dut", "routes", "seconds", "entries/s", "first entry", "install", "sent", "load"
    );
    for r in results {
        s.push_str(&format!(
            "{:<w$} {:>8} {:>9.3} {:>11.0} {:>12.3} {:>9.3} {:>9.3} {:>5.1}{}\n",
            r.dut,
            r.routes,
            r.seconds,
            r.entries_per_sec(),
            r.first_entry_seconds,
            r.install_seconds,
            r.send_seconds,
            r.load_avg,
            if r.overrun {
                "  (overrun: 100 ms dumps)"
            } else {
                ""
            }
        ));
    }
    let find = |name: &str| results.iter().find(|r| r.dut == name);
    if let (Some(e), Some(f)) = (find("evpnd"), find("floor-as-evpnd")) {
        if let (Some(eo), Some(fo)) = (e.own_seconds, f.own_seconds) {
            // Both installers' own clocks, the same entries: the install-rate ratio.
            s.push_str(&format!(
                "floor-as-evpnd / evpnd, own clocks (time spent writing the same entries): \
                 {:.2} ({fo:.3} s vs {eo:.3} s)\n",
                fo / eo.max(1e-9)
            ));
        }
        s.push_str(&format!(
            "floor-as-evpnd / evpnd kernel install (watcher): {:.2} ({:.3} s vs {:.3} s)\n",
            f.install_seconds / e.install_seconds.max(1e-9),
            f.install_seconds,
            e.install_seconds,
        ));
    }
    if let (Some(e), Some(f)) = (find("evpnd"), find("floor")) {
        // Same clock for both: the watcher's first entry -> last entry.
        s.push_str(&format!(
            "floor / evpnd kernel install (watcher, first -> last entry): {:.2} ({:.3} s vs \
             {:.3} s); floor's own time / evpnd install: {:.2}\n",
            f.install_seconds / e.install_seconds.max(1e-9),
            f.install_seconds,
            e.install_seconds,
            f.seconds / e.install_seconds.max(1e-9),
        ));
    }
    if let (Some(e), Some(f)) = (find("evpnd"), find("frr")) {
        s.push_str(&format!(
            "frr / evpnd end to end: x{:.2} ({:.3} s vs {:.3} s)\n",
            f.seconds / e.seconds.max(1e-9),
            f.seconds,
            e.seconds
        ));
    }
    s
}

/// The kernel benchmarks' lab: namespaces `dut` (198.18.0.1) and `tester`, the generator's
/// address 198.18.0.10 with its VTEP 198.19.1.1 on `lo` routed from the DUT, a listener for
/// the generator's session, and the DUT's topology (iBGP to the generator).
pub(super) struct KernelLab {
    /// The two namespaces, deleted on drop.
    pub lab: Lab,
    /// Where the DUT connects to the generator.
    pub listener: TcpListener,
    /// The generator's address.
    pub gen_addr: Ipv4Addr,
    /// The DUT's view.
    pub topo: Topology,
}

/// Builds the [`KernelLab`].
pub(super) fn kernel_lab() -> Result<KernelLab> {
    let mut lab = Lab::new(&["dut", "tester"])?;
    lab.connect_lan()?;
    let (dut_host, tester) = (&lab.hosts()[0], &lab.hosts()[1]);
    let dut_addr = dut_host
        .underlay()
        .ok_or_else(|| LabError::new("DUT has no underlay address"))?;
    let gen_addr = Ipv4Addr::new(198, 18, 0, FIRST_SPEAKER as u8);
    tester.add_address(LAN_IF, &format!("{gen_addr}/24"))?;
    // The generator's VTEP (198.19.1.1, the routes' next hop) is reachable through it.
    tester.add_address("lo", "198.19.1.1/32")?;
    dut_host.ns().ip(&[
        "route",
        "add",
        "198.19.1.0/24",
        "via",
        &gen_addr.to_string(),
    ])?;
    let listener = tester
        .ns()
        .within(|| TcpListener::bind(SocketAddr::from((gen_addr, 179))))?
        .context("listening on the generator address")?;
    let topo = Topology {
        dut_addr,
        router_id: dut_host.loopback(),
        asn: BENCH_AS,
        neighbors: vec![Neighbor {
            addr: gen_addr,
            asn: BENCH_AS,
            rr_client: false,
        }],
    };
    Ok(KernelLab {
        lab,
        listener,
        gen_addr,
        topo,
    })
}

/// Runs the kernel-install scenario against `dut` (FRR with zebra, or evpnd with
/// `kind = "linux"`): N type-2 routes from one generator, clock stopped when the DUT's
/// `vx100` holds N remote entries, then checked by a dump. Everything is stopped and every
/// namespace deleted before it returns.
pub fn kernel_install(dut: &dyn DutKind, opts: &KernelOptions) -> Result<KernelResult> {
    for t in dut.tools() {
        if crate::env::tool_path(&t).is_none() {
            return Err(LabError::new(format!("{}: missing tool {t}", dut.name())));
        }
    }
    let KernelLab {
        lab,
        listener,
        gen_addr,
        topo,
    } = kernel_lab()?;
    let dut_host = &lab.hosts()[0];
    let ctx = CodecContext::default();
    let (_, mut bytes) = prepare_generator(0, opts.routes, &[RouteKind::Mac], &ctx)?;
    let running = dut.start(dut_host.ns(), &topo)?;
    let diag = |e: LabError| e.context(format!("{}: {}", dut.name(), running.diagnostics()));
    let mut cfg = SpeakerConfig::evpn(BENCH_AS, gen_addr);
    cfg.handshake_timeout = opts.session_timeout;
    cfg.tracking = Tracking::Off;
    cfg.peer_as = Some(BENCH_AS);
    let session = Session::accept(&listener, &cfg).map_err(diag)?;
    if session.ctx() != &ctx {
        bytes = prepare_generator(0, opts.routes, &[RouteKind::Mac], session.ctx())?.1;
    }
    // evpnd creates its devices itself: wait (bounded) for the VXLAN device.
    wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        ifindex(dut_host.ns(), VXLAN).is_ok()
    })
    .map_err(|e| diag(e.context(format!("no {VXLAN} in the DUT's namespace"))))?;
    std::thread::sleep(opts.settle);
    let watch = FdbWatch::start(dut_host.ns(), VXLAN)?;
    if watch.count() != 0 {
        return Err(diag(LabError::new(format!(
            "{VXLAN} holds {} remote entries before the load",
            watch.count()
        ))));
    }
    let load = load_avg();
    let t0 = Instant::now();
    let (sent, fill) = std::thread::scope(|s| -> Result<_> {
        let sender = s.spawn(|| session.send_bytes(&bytes).map(|_| Instant::now()));
        let vital = running.vital_pids();
        let fill = watch.wait_while(opts.routes, opts.timeout, || {
            vital
                .iter()
                .find(|(_, pid)| !crate::process::is_alive(*pid))
                .map(|(name, pid)| format!("{name} (pid {pid}) exited during the load"))
        });
        let sent = sender
            .join()
            .map_err(|_| LabError::new("sender thread panicked"))??;
        Ok((sent, fill?))
    })
    .map_err(diag)?;
    let held = watch.dump_count()?;
    if held != opts.routes {
        return Err(diag(LabError::new(format!(
            "{VXLAN} holds {held} remote entries, expected {}",
            opts.routes
        ))));
    }
    let since = |t: Instant| t.saturating_duration_since(t0).as_secs_f64();
    let result = KernelResult {
        dut: dut.name(),
        routes: opts.routes,
        seconds: since(fill.reached),
        first_entry_seconds: since(fill.first),
        install_seconds: fill.reached.duration_since(fill.first).as_secs_f64(),
        send_seconds: since(sent),
        overrun: fill.overrun,
        load_avg: load,
        own_seconds: running.own_install().map(|(_, secs)| secs),
    };
    drop(watch);
    session.close();
    drop(running);
    drop(lab);
    Ok(result)
}

/// Runs the floor program (`fdb_floor --inside --no-setup`) in a fresh namespace holding the
/// same devices, with the same watcher running (its notifications cost the installer the
/// same as in a DUT run), and names the result `label`. `extra` is passed on (e.g.
/// `--ack-each`, `--master`). The result's `seconds` is the floor's own figure
/// (first `sendmsg` → last ACK, encoding excluded); `install_seconds` is the watcher's first
/// → last entry, the same clock as a DUT's install phase.
pub fn floor(
    bin: &Path,
    label: &str,
    routes: usize,
    extra: &[String],
    timeout: Duration,
) -> Result<KernelResult> {
    let ns = Netns::new()?;
    let vtep = Ipv4Addr::new(198, 18, 0, 1);
    ns.ip(&["addr", "add", &format!("{vtep}/32"), "dev", "lo"])?;
    create_vni_devices(&ns, vtep)?;
    let watch = FdbWatch::start(&ns, VXLAN)?;
    let mut cmd = ns.command(&bin.display().to_string());
    cmd.args(["--inside", "--no-setup", "--entries", &routes.to_string()])
        .args(extra);
    let load = load_avg();
    let out = run_output(&mut cmd, timeout)?;
    if !out.status.success() {
        return Err(LabError::new(format!(
            "fdb_floor failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| LabError::new(format!("fdb_floor output: {e}")))?;
    let fill = watch.wait(routes, Duration::from_secs(10))?;
    let seconds = report["seconds"]
        .as_f64()
        .ok_or_else(|| LabError::new("fdb_floor output has no seconds"))?;
    Ok(KernelResult {
        dut: label.into(),
        routes,
        seconds,
        first_entry_seconds: 0.0,
        install_seconds: fill.reached.duration_since(fill.first).as_secs_f64(),
        send_seconds: seconds,
        overrun: fill.overrun,
        load_avg: load,
        own_seconds: Some(seconds),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn frr_kernel_config_imports_vni_100() {
        let topo = Topology {
            dut_addr: Ipv4Addr::new(198, 18, 0, 1),
            router_id: Ipv4Addr::new(198, 19, 0, 1),
            asn: 65000,
            neighbors: vec![Neighbor {
                addr: Ipv4Addr::new(198, 18, 0, 10),
                asn: 65000,
                rr_client: false,
            }],
        };
        let c = FrrKernelDut::config(&topo);
        assert!(c.contains("advertise-all-vni"));
        assert!(c.contains("route-target import 65000:100"));
        assert!(c.contains("neighbor 198.18.0.10 activate"));
    }

    #[test]
    fn report_gives_the_ratios() {
        let r = |dut: &str, seconds: f64, install: f64| KernelResult {
            dut: dut.into(),
            routes: 100,
            seconds,
            first_entry_seconds: 0.0,
            install_seconds: install,
            send_seconds: 0.0,
            overrun: false,
            load_avg: 0.0,
            own_seconds: None,
        };
        let out = kernel_report(&[
            r("evpnd", 0.5, 0.4),
            r("frr", 2.0, 1.9),
            r("floor", 0.36, 0.3),
        ]);
        assert!(
            out.contains("kernel install (watcher, first -> last entry): 0.75"),
            "{out}"
        );
        assert!(
            out.contains("floor's own time / evpnd install: 0.90"),
            "{out}"
        );
        assert!(out.contains("frr / evpnd end to end: x4.00"), "{out}");
    }
}
