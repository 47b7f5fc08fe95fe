//! `evpnd demo`: an EVPN-VXLAN fabric (RFC 7432 over VXLAN, RFC 8365) in network namespaces,
//! driven the way an orchestrator drives it.
//!
//! An underlay switch, an evpnd route reflector and three hosts running evpnd with the kernel
//! data plane; a tenant "VM" (a namespace behind a veth whose host end is the tenant port) in
//! VNI 100 (192.0.2.0/24) and in VNI 200 (198.51.100.0/24) on every host. Every endpoint is
//! attached through its host's gRPC API; every tenant pings every other one (same VNI: must
//! answer; other VNI: must not), `evpnctl show macs` shows one host's table, and a tenant moves
//! between hosts live (its MAC mobility sequence number goes up, RFC 7432 §15). Then the fabric
//! stays up until SIGINT/SIGTERM, or with `--once` the demo exits (non-zero when a ping gave
//! the wrong answer).
//!
//! Namespaces are called `evpnd-demo-*`; configurations, sockets, logs and the pid file live in
//! [`WORK_DIR`]. A new run first removes what a killed one left.

mod explore;
mod fabric;
mod matrix;
mod mobility;
mod preflight;

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
/// The VNIs, each with one tenant on every host.
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
         reflector, {HOSTS} hosts with the kernel data plane, VNIs 100 and 200"
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
         VMs in VNIs 100 (192.0.2.0/24) and 200 (198.51.100.0/24)",
        labels.len()
    ));
    check_stop()?;
    let mut d = fabric::start_daemons(fabric, labels, &binary, work_dir, &pid_file)?;
    p.step(&format!(
        "evpnd started: route reflector + {HOSTS} hosts (kernel data plane), API on unix \
         sockets in {WORK_DIR}"
    ));
    d.wait_sessions()?;
    check_stop()?;
    p.step("BGP sessions Established: every host with the route reflector (l2vpn-evpn)");
    d.attach_all()?;
    p.step(&format!(
        "{} endpoints attached through the gRPC API (AttachEndpoint with the VM's port)",
        d.labels.len()
    ));
    d.wait_macs()?;
    check_stop()?;
    p.step("every host's MAC table has every tenant MAC at the right VTEP");

    let before = matrix::ping_matrix(&d.fabric, &d.labels)?;
    p.step("ping matrix (every tenant pings every other one):");
    print!("{}", before.render());
    let host1 = d.api(0)?;
    p.step(&format!(
        "evpnctl --api unix:{} show macs (host 1):",
        host1.display()
    ));
    print!("{}", explore::evpnctl(&host1, &["show", "macs"])?);
    check_stop()?;

    p.step(&format!("MAC move: {MOVER} goes from host 1 to host 2"));
    let moved = mobility::move_tenant(&mut d, MOVER, 1, 2)?;
    check_stop()?;
    print!("{}", moved.render());
    let after = matrix::ping_matrix(&d.fabric, &d.labels)?;
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

/// Creates `dir` readable only by us (it holds the API sockets).
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}
