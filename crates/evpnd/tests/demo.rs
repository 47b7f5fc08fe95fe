//! `evpnd demo --once` end to end (root): the real binary builds its fabric, every ping that
//! must pass passes, every one that must not does not (the bridged matrix, and the routed rows
//! of VRF red: IPv4 and IPv6 both ways between its two hosts, none to a bridged-only tenant),
//! the MAC move is shown, and nothing is left behind, VRF namespaces included; leftovers of an
//! earlier run (a namespace with the demo's prefix, VRF ones among them) are removed.
//!
//! The demo uses fixed names (`evpnd-demo-*`, /run/evpnd-demo), so the tests run one at a
//! time; each run is bounded and killed by pid when it overruns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evpnd_lab::{require_root_and_tools, Netns, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &["ip", "bridge", "ping", "sysctl"];
const PREFIX: &str = "evpnd-demo-";
/// Bound on one demo run.
const RUN_BOUND: Duration = Duration::from_secs(120);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `evpnd demo --once`, bounded by [`RUN_BOUND`] (then killed by pid); returns its output
/// and how long it took.
fn run_demo_once() -> (Output, Duration) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_evpnd"))
        .args(["demo", "--once"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(RUN_BOUND) {
        Ok(out) => (out.unwrap(), started.elapsed()),
        Err(_) => {
            // Our own child, by pid: SIGTERM lets it tear its fabric down.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let out = rx.recv_timeout(Duration::from_secs(30));
            panic!("evpnd demo --once did not finish within {RUN_BOUND:?}: {out:?}");
        }
    }
}

fn demo_namespaces() -> Vec<String> {
    evpnd_lab::netns::namespaces_with_prefix(PREFIX)
}

/// The rows of every ping matrix in `stdout`: (row label, cells).
fn matrix_rows(stdout: &str) -> Vec<(String, Vec<String>)> {
    stdout
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // "t1v100 192.0.2.11 h1 - ok ok no no no"
            let label = w.first()?;
            let is_row = label.starts_with('t') && label.contains('v') && w.len() == 9;
            is_row.then(|| {
                (
                    label.to_string(),
                    w[3..].iter().map(|c| c.to_string()).collect(),
                )
            })
        })
        .collect()
}

/// The routed rows of every matrix in `stdout`: (kind, verdict, "from -> to").
fn routed_rows(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // "routed ok t1v300 203.0.113.11 h1 -> t3v400 203.0.113.141 h3 3/3 replies"
            let is_row =
                matches!(w.first(), Some(&"routed" | &"isolated")) && w.len() == 11 && w[5] == "->";
            is_row.then(|| (w[0].to_string(), w[1].to_string(), w[2..9].join(" ")))
        })
        .collect()
}

/// The routed rows one matrix must show, in order.
const ROUTED_ROWS: [(&str, &str, &str); 6] = [
    (
        "routed",
        "ok",
        "t1v300 203.0.113.11 h1 -> t3v400 203.0.113.141 h3",
    ),
    (
        "routed",
        "ok",
        "t1v300 2001:db8:300::11 h1 -> t3v400 2001:db8:400::13 h3",
    ),
    (
        "routed",
        "ok",
        "t3v400 203.0.113.141 h3 -> t1v300 203.0.113.11 h1",
    ),
    (
        "routed",
        "ok",
        "t3v400 2001:db8:400::13 h3 -> t1v300 2001:db8:300::11 h1",
    ),
    (
        "isolated",
        "no",
        "t1v300 203.0.113.11 h1 -> t3v100 192.0.2.13 h3",
    ),
    (
        "isolated",
        "no",
        "t3v400 203.0.113.141 h3 -> t1v200 198.51.100.11 h1",
    ),
];

fn check_output(out: &Output, took: Duration) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("evpnd demo --once: {:.1} s\n{stdout}", took.as_secs_f64());
    assert!(
        out.status.success(),
        "exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let rows = matrix_rows(&stdout);
    // Two matrices (before and after the move), six tenants each.
    assert_eq!(rows.len(), 12, "{stdout}");
    let order = ["t1v100", "t2v100", "t3v100", "t1v200", "t2v200", "t3v200"];
    for (i, (label, cells)) in rows.iter().enumerate() {
        let row = i % 6;
        assert_eq!(label, order[row], "{stdout}");
        for (col, cell) in cells.iter().enumerate() {
            let want = if col == row {
                "-"
            } else if (col < 3) == (row < 3) {
                "ok"
            } else {
                "no"
            };
            assert_eq!(cell, want, "{label} -> {}: {stdout}", order[col]);
        }
    }
    assert!(stdout.contains("same VNI: 12/12 reached; different VNIs: 18/18 isolated"));
    // The routed rows of both matrices (before and after the move), all as expected.
    let routed = routed_rows(&stdout);
    assert_eq!(routed.len(), 12, "{stdout}");
    for (i, (kind, verdict, pair)) in routed.iter().enumerate() {
        let (want_kind, want_verdict, want_pair) = ROUTED_ROWS[i % 6];
        assert_eq!(
            (kind.as_str(), verdict.as_str(), pair.as_str()),
            (want_kind, want_verdict, want_pair),
            "{stdout}"
        );
    }
    assert_eq!(
        stdout
            .matches(
                "routed (IPv4 and IPv6, both directions): 4/4 reached; VRF red to \
                 bridged-only tenants: 2/2 isolated"
            )
            .count(),
        2,
        "{stdout}"
    );
    for step in [
        "VRF red namespaces evpnd-demo-host1-red and evpnd-demo-host3-red ready",
        "VRF red converged",
        "show ip-routes --vrf red (host 1):",
    ] {
        assert!(stdout.contains(step), "{step:?} not in:\n{stdout}");
    }
    // Host 1's VRF holds host 3's routed tenant and subnet (IPv4 and IPv6).
    for route in [
        "203.0.113.141/32",
        "203.0.113.128/25",
        "2001:db8:400::13/128",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("red  {route} "))),
            "{route} not in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("MAC move: t1v100 goes from host 1 to host 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("moved from host 1 to host 2") && stdout.contains("with sequence"),
        "{stdout}"
    );
    assert!(stdout.contains("show macs (host 1):"), "{stdout}");
    assert!(stdout.contains("wall time:"), "{stdout}");
    assert_eq!(demo_namespaces(), Vec::<String>::new(), "namespaces left");
}

#[test]
fn demo_once_passes_every_ping_and_leaves_nothing() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let (out, took) = run_demo_once();
    check_output(&out, took);
}

/// `evpnd demo` staying up, its stdout and stderr in a file of `dir`.
struct StayingUp {
    child: Child,
    out: PathBuf,
}

impl StayingUp {
    /// Starts it and waits (bounded) until the fabric is up.
    fn start(dir: &Path) -> StayingUp {
        let out = dir.join("demo.out");
        let file = std::fs::File::create(&out).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_evpnd"))
            .arg("demo")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let d = StayingUp { child, out };
        let up = evpnd_lab::wait_until(RUN_BOUND, Duration::from_millis(100), || {
            d.output().contains("waiting for Ctrl-C")
        });
        if up.is_err() {
            d.signal("-KILL");
            panic!("the demo did not come up:\n{}", d.output());
        }
        d
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Sends `sig` (e.g. "-INT") to our own child, by pid.
    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    /// Waits (bounded) for the exit.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal("-KILL");
        panic!("the demo did not exit:\n{}", self.output());
    }
}

impl Drop for StayingUp {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal("-TERM");
            let _ = self.wait();
        }
    }
}

#[test]
fn demo_stays_up_until_sigint_and_refuses_a_second_demo() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let dir = TempDir::new("demo").unwrap();
    let mut up = StayingUp::start(dir.path());
    let out = up.output();
    assert!(out.contains("explore it"), "{out}");
    assert!(
        out.contains("ip netns exec evpnd-demo-t1v100 ping 192.0.2.13"),
        "{out}"
    );
    for routed in [
        "ip netns exec evpnd-demo-t1v300 ping -c 3 203.0.113.141",
        "show vrfs",
        "show ip-routes --vrf red",
        "explain ip 203.0.113.141 --vrf red",
        "ip netns exec evpnd-demo-host1-red ip route",
    ] {
        assert!(out.contains(routed), "{routed:?} not in:\n{out}");
    }
    // VRF red's namespaces carry the demo's prefix, so a later run's clean-up finds them.
    let namespaces = demo_namespaces();
    for vrf_ns in ["evpnd-demo-host1-red", "evpnd-demo-host3-red"] {
        assert!(namespaces.iter().any(|n| n == vrf_ns), "{namespaces:?}");
    }
    // The explore commands work against the running fabric.
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            "evpnd-demo-t1v300",
            "ping",
            "-c",
            "1",
            "-w",
            "5",
        ])
        .arg("2001:db8:400::13")
        .output()
        .unwrap();
    assert!(ping.status.success(), "{ping:?}");
    let (second, _) = run_demo_once();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("another evpnd demo is running"), "{err}");
    assert!(
        !demo_namespaces().is_empty(),
        "the second demo removed the first one's fabric"
    );
    up.signal("-INT");
    let st = up.wait();
    let out = up.output();
    assert!(st.success(), "{st}: {out}");
    assert!(out.contains("torn down"), "{out}");
    assert_eq!(demo_namespaces(), Vec::<String>::new(), "namespaces left");
}

#[test]
fn demo_once_removes_leftovers_of_a_killed_run() {
    if !require_root_and_tools(TOOLS) {
        return;
    }
    let _g = serial();
    let dir = TempDir::new("demo").unwrap();
    // A demo killed with SIGKILL leaves its daemons and namespaces behind.
    let mut killed = StayingUp::start(dir.path());
    let pids: Vec<u32> = std::fs::read_to_string("/run/evpnd-demo/evpnd.pids")
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 4, "{pids:?}");
    killed.signal("-KILL");
    killed.wait();
    let left = demo_namespaces();
    assert!(
        left.iter().any(|n| n == "evpnd-demo-host1-red"),
        "the killed run's VRF namespace: {left:?}"
    );
    // And a stray namespace with the demo's prefix (not owned by this test: the demo must
    // delete it).
    let stale = Netns::named(&format!("{PREFIX}stale")).unwrap();
    let name = stale.name().to_string();
    std::mem::forget(stale);
    let (out, took) = run_demo_once();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("removed leftovers of an earlier run: stopped 4 evpnd process(es), deleted 16 namespace(s)"),
        "{stdout}"
    );
    check_output(&out, took);
    assert!(!Netns::exists(&name));
    for p in pids {
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmd).contains("/run/evpnd-demo"),
            "evpnd {p} of the killed run still runs"
        );
    }
}
