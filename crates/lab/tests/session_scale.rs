//! The session-scale harness against a real evpnd (issue 12): 1,000 iBGP route-reflector
//! clients with RT-Constraint on loopback (127.64.0.0/10), each in 2–5 of 100 VNIs with 5
//! MACs, must each receive exactly the routes of their VNIs from the others: nothing missing,
//! nothing extra, none of their own routes back. A bound, not a speed assertion (P7 in
//! bench/README.md is the benchmark). Needs no root: loopback in the current namespace.
//!
//! The evpnd binary: `EVPND_BIN` when set, else the one of this build profile (built first
//! when missing), next to this test's own directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evpnd_lab::scale::{
    fds_for, raise_fd_limit, run_scale, HarnessOptions, NeighborForm, ScaleDut, ScalePlan,
    EVPND_RR_TEMPLATE,
};
use evpnd_lab::{report_skip, tool_path};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// `EVPND_BIN`, or `target/<profile>/evpnd` (this test runs from `target/<profile>/deps`),
/// built with `cargo build -p evpnd` (same profile) when it is not there.
fn evpnd_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("EVPND_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = profile_dir.join("evpnd");
    if !bin.exists() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "evpnd", "--bin", "evpnd"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "cannot build evpnd");
    }
    bin
}

#[test]
fn a_thousand_rtc_clients_each_receive_exactly_their_vnis_routes() {
    let plan = ScalePlan {
        sessions: 1000,
        vnis: 100,
        min_vnis: 2,
        max_vnis: 5,
        macs_per_session: 5,
        seed: 12,
        asn: 65000,
    };
    let fds = fds_for(plan.sessions);
    if raise_fd_limit(fds) < fds {
        let msg = format!("needs {fds} open files (ulimit -n)");
        assert!(std::env::var_os("CI").is_none(), "{msg}; CI is set");
        report_skip("session_scale", &msg);
        return;
    }
    let binary = evpnd_binary();
    assert!(
        tool_path(&binary.display().to_string()).is_some(),
        "{}",
        binary.display()
    );
    let dut = ScaleDut::Evpnd {
        binary,
        template: EVPND_RR_TEMPLATE.to_string(),
        // Dynamic neighbours: one peer group on 127.64.0.0/10 accepts every session.
        form: NeighborForm::PeerGroup,
    };
    let mut opts = HarnessOptions::new("127.0.0.1:179".parse().unwrap());
    opts.timeout = Duration::from_secs(240);
    let t0 = Instant::now();
    let r = run_scale(&dut, &plan, &opts).unwrap();
    eprint!("{}", r.summary());
    eprintln!(
        "wall time with set-up and teardown: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(r.established, 1000, "{}", r.summary());
    assert_eq!(r.closed, 0, "{}", r.summary());
    assert_eq!(r.missing, 0, "{}", r.summary());
    assert_eq!(r.extra, 0, "{}", r.summary());
    assert_eq!(r.counts.echoed, 0, "{}", r.summary());
    assert_eq!(r.converged, 1000, "{}", r.summary());
    assert!(r.exact(), "{}", r.summary());
    // Every session received something: the plan puts at least two sessions in most VNIs.
    assert!(r.expected_routes > 10_000, "{}", r.summary());
}
