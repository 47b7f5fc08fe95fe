//! The session-scale harness (issue 12, item 6; benchmark P7): one process that opens
//! thousands of BGP sessions to one route reflector (the device under test, DUT) from
//! distinct loopback addresses (127.64.0.0/10 is all on `lo`), each an iBGP route-reflector
//! client negotiating L2VPN EVPN, RT-Constraint (RFC 4684) and 4-octet AS; each a member of a
//! few VNIs, announcing its memberships and RT-Constraint End-of-RIB, then its type-3 and
//! type-2 routes and the EVPN End-of-RIB; and each checking that it receives exactly the
//! routes of its VNIs from the other sessions (a route reflector does not send a client's own
//! routes back).
//!
//! The pieces: what each session is and sends (`plan`), what it has received (`tracker`),
//! the session tasks (`session`), running a plan and its figures (`run`), and the DUTs,
//! evpnd and FRR, on loopback (`dut`). The `session-scale` binary and the lab's
//! `session_scale` test drive them.

mod dut;
mod plan;
mod run;
mod session;
mod tracker;

pub use dut::{
    cpu_seconds, evpnd_config, free_port, frr_config, raise_fd_limit, NeighborForm,
    RunningScaleDut, ScaleDut, DUT_ADDR, DUT_ROUTER_ID, EVPND_RR_TEMPLATE, FRR_RR_TEMPLATE,
    LISTEN_RANGE,
};
pub use plan::{Layout, RouteId, ScalePlan, SessionLoad, SOURCE_BASE, VNI_BASE, VTEP_BASE};
pub use run::{run_plan, HarnessOptions, ScaleResult, SetupPoint};
pub use tracker::{end_of_rib, Counts, Tracker};

use crate::error::{LabError, Result};
use std::sync::Arc;

/// File descriptors the harness and the DUT need for `sessions` sessions (one socket each,
/// plus room for everything else).
pub fn fds_for(sessions: usize) -> u64 {
    sessions as u64 + 1024
}

/// Starts `dut` for `plan`, runs the plan against it, stops it. The DUT's file limit and ours
/// are raised first (the DUT inherits ours). An evpnd or FRR that exits during the run makes
/// the result inexact (sessions closed), with the end of its log among the errors.
pub fn run_scale(dut: &ScaleDut, plan: &ScalePlan, opts: &HarnessOptions) -> Result<ScaleResult> {
    let layout = Arc::new(Layout::new(plan)?);
    let fds = fds_for(plan.sessions);
    let have = raise_fd_limit(fds);
    if have < fds {
        return Err(LabError::new(format!(
            "need {fds} open files, the limit is {have} (raise it with ulimit -n, or run as root)"
        )));
    }
    let mut running = dut.start(plan.sessions, plan.asn, fds)?;
    let mut o = opts.clone();
    o.dut = running.addr;
    o.dut_pid = running.pid;
    o.tolerate_unwanted = opts.tolerate_unwanted || !dut.has_rtc();
    let mut r = run_plan(layout, &dut.name(), &o)?;
    if !running.is_running() {
        r.errors
            .push(format!("the DUT exited: {}", running.log_tail(10)));
    }
    drop(running);
    Ok(r)
}
