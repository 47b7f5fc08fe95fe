//! `evpnd demo`: an EVPN-VXLAN fabric (RFC 7432 over VXLAN, RFC 8365) in network namespaces,
//! driven the way an orchestrator drives it.
//!
//! An underlay switch, an evpnd route reflector and three hosts running evpnd with the kernel
//! data plane; a tenant "VM" (a namespace behind a veth whose host end is the tenant port) in
//! the bridged VNIs 100 (192.0.2.0/24) and 200 (198.51.100.0/24) on every host; and a routed
//! tenant VRF "red" (L3VNI 5000, symmetric IRB, RFC 9135) whose two subnets live on different
//! hosts, VNI 300 (203.0.113.0/25, 2001:db8:300::/64) on host 1 and VNI 400
//! (203.0.113.128/25, 2001:db8:400::/64) on host 3, with a dual-stack tenant each behind the
//! anycast gateway ([`routed`]). Every endpoint is attached through its host's gRPC API; every
//! bridged tenant pings every other one (same VNI: must answer; other VNI: must not), the
//! routed tenants ping each other (IPv4 and IPv6, both directions) and must not reach the
//! bridged-only tenants, `evpnctl show macs` and `show ip-routes --vrf red` show one host's
//! tables, and a tenant moves between hosts live (its MAC mobility sequence number goes up,
//! RFC 7432 §15). Then the fabric stays up until SIGINT/SIGTERM, or with `--once` the demo
//! exits (non-zero when a ping gave the wrong answer).
//!
//! Namespaces are called `evpnd-demo-*`, VRF red's `evpnd-demo-hostN-red`; configurations,
//! sockets, logs and the pid file live in [`WORK_DIR`]. A new run first removes what a killed
//! one left.

mod explore;
mod fabric;
mod matrix;
mod mobility;
mod preflight;
mod routed;

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Errors of the demo: a message for the user.
type Result<T> = std::result::Result<T, String>;

/// The prefix of every namespace the demo creates (and deletes at start).
pub const NAMESPACE_PREFIX: &str = "evpnd-demo-";
/// Configurations, API sockets, logs and the pid file of the demo's daemons.
pub const WORK_DIR: &str = "/run/evpnd-demo";
/// The tools the demo runs (`sysctl`: the lab turns IPv6 off on tenant interfaces).
const TOOLS: [&str; 4] = ["ip", "bridge", "ping", "sysctl"];
/// Hosts (VTEPs) of the fabric.
const HOSTS: usize = 3;
/// The bridged VNIs, each with one tenant on every host.
const VNIS: [u32; 2] = evpnd_lab::fabric::evpnd::TENANT_VNIS;
/// The tenant that moves, from host 1 to host 2, watched from host 3.
const MOVER: &str = "t1v100";

/// Set by SIGINT / SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

/// Prints each step with the time since the start.
struct Progress(Instant);

impl Progress {
    fn step(&self, what: &str) {
        println!("[{:5.1}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

/// Runs the demo; see the module documentation. Exit status: 0 when every check passed, 1
/// when one failed or the demo could not build its fabric, 2 when this machine cannot run it
/// (not root, tools missing).
pub fn run(once: bool) -> ExitCode {
    let missing = preflight::missing_requirements();
    if !missing.is_empty() {
        eprint!("{}", preflight::requirements_message(&missing));
        return ExitCode::from(2);
    }
    let progress = Progress(Instant::now());
    println!(
        "evpnd demo: an EVPN-VXLAN fabric in network namespaces: underlay switch, route \
         reflector, {HOSTS} hosts with the kernel data plane, bridged VNIs 100 and 200, tenant \
         VRF {} (L3VNI {}) routing VNI 300 on host 1 to VNI 400 on host 3",
        routed::VRF,
        routed::L3VNI
    );
    let outcome = watch_signals().and_then(|()| demo(&progress, once));
    let code = match outcome {
        Ok(true) => {
            progress.step("demo passed");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            progress.step("demo FAILED: see the checks above");
            ExitCode::FAILURE
        }
        Err(_) if stopping() => {
            progress.step("interrupted: stopped evpnd and deleted the namespaces");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("evpnd demo: {e}");
            progress.step("demo FAILED");
            ExitCode::FAILURE
        }
    };
    println!("wall time: {:.1} s", progress.0.elapsed().as_secs_f64());
    code
}

/// Turns SIGINT and SIGTERM into [`STOP`] (on a thread of its own), so that Ctrl-C tears the
/// fabric down instead of killing the demo with its namespaces left behind.
fn watch_signals() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal watcher: {e}"))?;
    let (mut int, mut term) = {
        let _ctx = rt.enter();
        let int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
        let term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
        (int, term)
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                STOP.store(true, Ordering::SeqCst);
            }
        })
    });
    Ok(())
}

/// True once SIGINT or SIGTERM arrived; every wait of the demo ends early then.
fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// An error when a signal asked the demo to stop.
fn check_stop() -> Result<()> {
    if stopping() {
        Err("interrupted; tearing down".into())
    } else {
        Ok(())
    }
}

/// Builds the fabric, runs the checks, stays up unless `once`, and tears down. Ok(false) when
/// a check gave the wrong answer.
fn demo(p: &Progress, once: bool) -> Result<bool> {
    let work_dir = Path::new(WORK_DIR);
    let pid_file = work_dir.join("evpnd.pids");
    let demo_pid_file = work_dir.join("demo.pid");
    let binary = std::env::current_exe().map_err(|e| format!("where is evpnd? {e}"))?;
    if let Some(pid) = preflight::other_running_demo(&demo_pid_file) {
        return Err(format!(
            "another evpnd demo is running (pid {pid}); stop it first (Ctrl-C in its terminal, \
             or kill {pid})"
        ));
    }
    let removed = preflight::remove_leftovers(work_dir, &pid_file)?;
    if removed.is_empty() {
        p.step("no leftovers of an earlier run");
    } else {
        p.step(&format!("removed leftovers of an earlier run: {removed}"));
    }
    create_private_dir(work_dir)?;
    preflight::record_pid(&demo_pid_file, std::process::id())?;

    let (fabric, labels) = fabric::build_namespaces()?;
    p.step(&format!(
        "underlay switch, route reflector and {HOSTS} hosts ready (198.18.0.0/24); {} tenant \
         VMs in the bridged VNIs 100 (192.0.2.0/24) and 200 (198.51.100.0/24)",
        labels.bridged.len()
    ));
    p.step(&routed_layout(&fabric)?);
    check_stop()?;
    let mut d = fabric::start_daemons(fabric, labels, &binary, work_dir, &pid_file)?;
    p.step(&format!(
        "evpnd started: route reflector + {HOSTS} hosts (kernel data plane, symmetric IRB; VRF \
         {} as a namespace on hosts 1 and 3), API on unix sockets in {WORK_DIR}",
        routed::VRF
    ));
    d.wait_sessions()?;
    check_stop()?;
    p.step("BGP sessions Established: every host with the route reflector (l2vpn-evpn)");
    let calls = d.attach_all()?;
    p.step(&format!(
        "{} endpoints attached through the gRPC API ({calls} AttachEndpoint calls with the \
         VM's port: one per address, the routed VMs are dual-stack)",
        d.all_labels().count()
    ));
    d.wait_macs()?;
    check_stop()?;
    p.step("every host's MAC table has every tenant MAC of its VNIs at the right VTEP");
    let routed_cases = routed::ping_cases(&d.fabric)?;
    let missing = routed::wait_routed(&d.fabric, &routed_cases, fabric::CONVERGE)?;
    check_stop()?;
    if missing.is_empty() {
        p.step(&format!(
            "VRF {} converged: the routed VMs answer each other over L3VNI {} (type-2 routes \
             with the L3VNI and router MAC, type-5 subnets)",
            routed::VRF,
            routed::L3VNI
        ));
    } else {
        p.step(&format!(
            "VRF {} did not converge within {} s: no answer for {}",
            routed::VRF,
            fabric::CONVERGE.as_secs(),
            missing.join(", ")
        ));
    }

    let before = matrix::ping_matrix(&d.fabric, &d.labels, &routed_cases)?;
    p.step("ping matrix (every bridged tenant pings every other one; the routed ones below):");
    print!("{}", before.render());
    let host1 = d.api(0)?;
    p.step(&format!(
        "evpnctl --api unix:{} show macs (host 1):",
        host1.display()
    ));
    print!("{}", explore::evpnctl(&host1, &["show", "macs"])?);
    p.step(&format!(
        "evpnctl --api unix:{} show ip-routes --vrf {} (host 1):",
        host1.display(),
        routed::VRF
    ));
    print!(
        "{}",
        explore::evpnctl(&host1, &["show", "ip-routes", "--vrf", routed::VRF])?
    );
    check_stop()?;

    p.step(&format!("MAC move: {MOVER} goes from host 1 to host 2"));
    let moved = mobility::move_tenant(&mut d, MOVER, 1, 2)?;
    check_stop()?;
    print!("{}", moved.render());
    let after = matrix::ping_matrix(&d.fabric, &d.labels, &routed_cases)?;
    p.step(&format!(
        "ping matrix after the move ({MOVER} now on host 2):"
    ));
    print!("{}", after.render());
    let passed = before.all_good() && after.all_good();

    if !once {
        println!(
            "\n{}",
            explore::explore_commands(work_dir, explore::evpnctl_path().as_deref())
        );
        p.step("the fabric is up; waiting for Ctrl-C");
        while !stopping() {
            std::thread::sleep(Duration::from_millis(200));
        }
        println!();
    }
    if !passed {
        print!("{}", d.logs());
    }
    p.step("tearing down: stopping evpnd, deleting the namespaces");
    drop(d);
    let _ = std::fs::remove_dir_all(work_dir);
    let left = evpnd_lab::netns::namespaces_with_prefix(NAMESPACE_PREFIX);
    if !left.is_empty() {
        return Err(format!("namespaces left after the teardown: {left:?}"));
    }
    p.step("torn down");
    Ok(passed)
}

/// The progress line on VRF red: its namespaces and routed tenants.
fn routed_layout(f: &evpnd_lab::Fabric) -> Result<String> {
    let mut namespaces = Vec::new();
    for pos in routed::vrf_hosts() {
        namespaces.push(f.host(pos)?.vrf_netns_name(routed::VRF));
    }
    let tenants: Vec<String> = routed::ROUTED
        .iter()
        .map(|r| {
            format!(
                "{} in VNI {} ({}, {}) on host {}",
                r.tenant,
                r.vni,
                r.ipv4,
                r.ipv6,
                r.host + 1
            )
        })
        .collect();
    Ok(format!(
        "VRF {} namespaces {} ready; routed tenant VMs {}",
        routed::VRF,
        namespaces.join(" and "),
        tenants.join(", ")
    ))
}

/// Creates `dir` readable only by us (it holds the API sockets).
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}
