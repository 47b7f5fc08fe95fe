//! Running a session-scale plan against a listening DUT: every session as tokio tasks on one
//! thread, a coordinator that watches the live counters, and the result: convergence time,
//! exactness (missing and extra routes), session set-up rate over time, and the DUT's peak
//! RSS and CPU time.

use super::dut::cpu_seconds;
use super::plan::{Layout, SessionLoad};
use super::session::{self, Progress, SessionReport, Shared};
use super::tracker::Counts;
use crate::bench::load_avg;
use crate::error::{LabError, Result};
use crate::process::memory_of;
use evpnd_wire::CodecContext;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run a plan.
#[derive(Clone, Debug)]
pub struct HarnessOptions {
    /// The DUT's address.
    pub dut: SocketAddr,
    /// The DUT's process, for memory and CPU figures.
    pub dut_pid: Option<u32>,
    /// Connections opened or in their handshake at once.
    pub connect_concurrency: usize,
    /// Bound on the whole run (set-up and convergence).
    pub timeout: Duration,
    /// Bound on one connection's set-up.
    pub handshake_timeout: Duration,
    /// Hold time the sessions propose.
    pub hold_time: u16,
    /// Sessions send their routes only once every session is Established (set-up measured
    /// alone); otherwise each sends as soon as it is up, like NVEs booting.
    pub announce_after_all_up: bool,
    /// After every session converged, keep listening this long for late extra routes.
    pub linger: Duration,
    /// Routes of other VNIs, a client's own routes and a missing End-of-RIB do not prevent
    /// convergence (a DUT without RFC 4684, such as FRR 8.4).
    pub tolerate_unwanted: bool,
    /// Print a progress line this often (`None`: quiet).
    pub progress_every: Option<Duration>,
}

impl HarnessOptions {
    /// Defaults for a DUT at `dut`.
    pub fn new(dut: SocketAddr) -> Self {
        HarnessOptions {
            dut,
            dut_pid: None,
            connect_concurrency: 256,
            timeout: Duration::from_secs(600),
            handshake_timeout: Duration::from_secs(60),
            hold_time: 90,
            announce_after_all_up: false,
            linger: Duration::from_secs(1),
            tolerate_unwanted: false,
            progress_every: None,
        }
    }
}

/// The set-up rate around a session count.
#[derive(Clone, Debug, PartialEq)]
pub struct SetupPoint {
    /// Sessions Established.
    pub sessions: usize,
    /// Seconds from the start until the `sessions`-th was Established.
    pub seconds: f64,
    /// Sessions per second between the (sessions/2)-th and the sessions-th.
    pub rate: f64,
}

/// The measurements of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleResult {
    /// DUT name.
    pub dut: String,
    /// Sessions in the plan.
    pub sessions: usize,
    /// VNIs in the plan.
    pub vnis: u32,
    /// MAC routes per session.
    pub macs_per_session: usize,
    /// EVPN routes originated by all sessions.
    pub routes: u64,
    /// Sessions Established.
    pub established: usize,
    /// Sessions converged at the end.
    pub converged: usize,
    /// Sessions that ended after Established.
    pub closed: usize,
    /// Seconds until every session was Established (`None`: never).
    pub all_up_seconds: Option<f64>,
    /// Seconds from the start until every session had converged (`None`: never).
    pub converged_seconds: Option<f64>,
    /// Routes the sessions had to receive in total.
    pub expected_routes: u64,
    /// Wanted routes not held at the end.
    pub missing: u64,
    /// Routes held that should not be (unwanted, echoed, unknown); with `tolerate_unwanted`
    /// (a DUT without RT-Constraint) only the unknown ones: the unwanted and echoed routes
    /// such a DUT must send are in `counts`.
    pub extra: u64,
    /// Everything received, summed over sessions.
    pub counts: Counts,
    /// Sessions whose EVPN End-of-RIB came before all their routes (RFC 4684 §6).
    pub eor_before_routes: usize,
    /// Set-up rate at 100, 1,000, 10,000 sessions and at the total.
    pub setup: Vec<SetupPoint>,
    /// The DUT's VmHWM (peak RSS) at the end, bytes.
    pub dut_peak_rss: u64,
    /// The DUT's CPU seconds during the run.
    pub dut_cpu_seconds: f64,
    /// This process's CPU seconds during the run.
    pub harness_cpu_seconds: f64,
    /// Wall seconds of the run.
    pub wall_seconds: f64,
    /// 1-minute load average at the start and at the end.
    pub load_avg: (f64, f64),
    /// The first few errors (sessions that never came up or ended).
    pub errors: Vec<String>,
}

impl ScaleResult {
    /// True when every session came up, stayed up and holds exactly its VNIs' routes.
    pub fn exact(&self) -> bool {
        self.established == self.sessions
            && self.converged == self.sessions
            && self.closed == 0
            && self.missing == 0
            && self.extra == 0
    }

    /// JSON for machine-readable reports.
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.counts;
        serde_json::json!({
            "dut": self.dut, "sessions": self.sessions, "vnis": self.vnis,
            "macs_per_session": self.macs_per_session, "routes": self.routes,
            "established": self.established, "converged": self.converged, "closed": self.closed,
            "all_up_seconds": self.all_up_seconds, "converged_seconds": self.converged_seconds,
            "expected_routes": self.expected_routes, "missing": self.missing, "extra": self.extra,
            "announced": c.announced, "withdrawn": c.withdrawn, "repeats": c.repeats,
            "unwanted": c.unwanted, "echoed": c.echoed, "unknown": c.unknown,
            "rtc_received": c.rtc_announced, "updates": c.updates,
            "eor_before_routes": self.eor_before_routes,
            "setup": self.setup.iter().map(|p| serde_json::json!({
                "sessions": p.sessions, "seconds": p.seconds, "rate": p.rate})).collect::<Vec<_>>(),
            "dut_peak_rss": self.dut_peak_rss, "dut_cpu_seconds": self.dut_cpu_seconds,
            "harness_cpu_seconds": self.harness_cpu_seconds, "wall_seconds": self.wall_seconds,
            "load_avg_start": self.load_avg.0, "load_avg_end": self.load_avg.1,
            "errors": self.errors,
        })
    }

    /// A few lines for humans.
    pub fn summary(&self) -> String {
        let secs = |o: Option<f64>| o.map_or("never".to_string(), |s| format!("{s:.2} s"));
        let mut s = format!(
            "{}: {} sessions, {} VNIs, {} MACs/session, {} routes: {} up ({}), {} converged ({}), \
             {} closed; expected {} route deliveries, missing {}, extra {} (unwanted {}, echoed {}, \
             unknown {}), repeats {}, RTC routes received {}, EoR before routes on {} sessions; \
             DUT peak RSS {:.1} MiB, DUT CPU {:.1} s, harness CPU {:.1} s, wall {:.1} s, load {:.2} -> {:.2}\n",
            self.dut,
            self.sessions,
            self.vnis,
            self.macs_per_session,
            self.routes,
            self.established,
            secs(self.all_up_seconds),
            self.converged,
            secs(self.converged_seconds),
            self.closed,
            self.expected_routes,
            self.missing,
            self.extra,
            self.counts.unwanted,
            self.counts.echoed,
            self.counts.unknown,
            self.counts.repeats,
            self.counts.rtc_announced,
            self.eor_before_routes,
            self.dut_peak_rss as f64 / 1048576.0,
            self.dut_cpu_seconds,
            self.harness_cpu_seconds,
            self.wall_seconds,
            self.load_avg.0,
            self.load_avg.1
        );
        for p in &self.setup {
            s.push_str(&format!(
                "  set-up: session {} Established at {:.2} s, {:.0} sessions/s around it\n",
                p.sessions, p.seconds, p.rate
            ));
        }
        for e in &self.errors {
            s.push_str(&format!("  error: {e}\n"));
        }
        s
    }
}

/// The set-up rate at 100, 1,000, 10,000 sessions and at `n`, from the instants sessions
/// became Established (sorted).
fn setup_points(up: &[f64], n: usize) -> Vec<SetupPoint> {
    let mut marks: Vec<usize> = [100, 1000, 10_000]
        .into_iter()
        .filter(|&m| m < up.len())
        .collect();
    if !up.is_empty() {
        marks.push(up.len());
    }
    let _ = n;
    marks
        .into_iter()
        .map(|m| {
            let half = m / 2;
            let (t1, t0) = (up[m - 1], if half == 0 { 0.0 } else { up[half - 1] });
            SetupPoint {
                sessions: m,
                seconds: t1,
                rate: (m - half) as f64 / (t1 - t0).max(1e-6),
            }
        })
        .collect()
}

/// Runs `layout`'s sessions against the DUT at `opts.dut` (already listening) on a
/// single-threaded tokio runtime, and measures the run. Returns when every session has
/// converged (plus the linger time), or at the timeout, or when the DUT dies.
pub fn run_plan(layout: Arc<Layout>, dut_name: &str, opts: &HarnessOptions) -> Result<ScaleResult> {
    let n = layout.sessions();
    // Pre-encode every session's load (not timed).
    let ctx = CodecContext::default();
    let mut loads: Vec<SessionLoad> = Vec::with_capacity(n);
    for t in 0..n as u32 {
        loads.push(layout.encode_load(t, &ctx)?);
    }
    let routes: u64 = loads.iter().map(|l| l.routes as u64).sum();
    let expected_routes: u64 = (0..n as u32).map(|t| layout.expected(t)).sum();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LabError::new(format!("tokio runtime: {e}")))?;
    let load0 = load_avg();
    let cpu0 = opts.dut_pid.and_then(cpu_seconds).unwrap_or(0.0);
    let self_cpu0 = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        layout: layout.clone(),
        dut: opts.dut,
        permits: Arc::new(tokio::sync::Semaphore::new(opts.connect_concurrency.max(1))),
        handshake_timeout: opts.handshake_timeout,
        setup_deadline: start + opts.timeout,
        hold_time: opts.hold_time,
        tolerate_unwanted: opts.tolerate_unwanted,
        progress: Progress::default(),
    });
    let (all_up, all_converged, reports) = rt.block_on(async {
        let (go_tx, go_rx) = tokio::sync::watch::channel(!opts.announce_after_all_up);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let handles: Vec<_> = loads
            .into_iter()
            .enumerate()
            .map(|(t, load)| {
                tokio::spawn(session::run(
                    shared.clone(),
                    t as u32,
                    load,
                    go_rx.clone(),
                    stop_rx.clone(),
                ))
            })
            .collect();
        let p = &shared.progress;
        let mut all_up: Option<Instant> = None;
        let mut all_converged: Option<Instant> = None;
        let mut last_print = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (up, conv, closed) = (
                p.established.load(Ordering::Relaxed),
                p.converged.load(Ordering::Relaxed),
                p.closed.load(Ordering::Relaxed),
            );
            if all_up.is_none() && up == n {
                all_up = Some(Instant::now());
                let _ = go_tx.send(true);
            }
            match (all_converged, conv == n) {
                (None, true) => all_converged = Some(Instant::now()),
                (Some(_), false) => all_converged = None,
                _ => {}
            }
            if let Some(every) = opts.progress_every {
                if last_print.elapsed() >= every {
                    last_print = Instant::now();
                    let mem = opts.dut_pid.and_then(memory_of).map_or(0, |(rss, _)| rss);
                    eprintln!(
                        "  {:7.1} s: {up} up, {conv} converged, {closed} closed; DUT RSS {:.0} MiB, load {:.2}",
                        start.elapsed().as_secs_f64(),
                        mem as f64 / 1048576.0,
                        load_avg()
                    );
                }
            }
            if all_converged.is_some_and(|t| t.elapsed() >= opts.linger) {
                break;
            }
            if start.elapsed() >= opts.timeout || closed > 0 && closed + conv >= n {
                break;
            }
            if let Some(pid) = opts.dut_pid {
                if !crate::process::is_alive(pid) {
                    break;
                }
            }
        }
        let _ = stop_tx.send(true);
        let mut reports: Vec<SessionReport> = Vec::with_capacity(n);
        for h in handles {
            if let Ok(r) = h.await {
                reports.push(r);
            }
        }
        (all_up, all_converged, reports)
    });
    let wall = start.elapsed().as_secs_f64();
    let dut_cpu = opts.dut_pid.and_then(cpu_seconds).unwrap_or(0.0) - cpu0;
    let harness_cpu = cpu_seconds(std::process::id()).unwrap_or(0.0) - self_cpu0;
    let dut_peak_rss = opts.dut_pid.and_then(memory_of).map_or(0, |(_, hwm)| hwm);
    drop(rt);

    let mut counts = Counts::default();
    let mut up_times: Vec<f64> = Vec::with_capacity(n);
    let (mut missing, mut extra, mut converged, mut closed, mut eor_early) = (0, 0, 0, 0, 0);
    let mut errors = Vec::new();
    for r in &reports {
        counts.add(&r.tracker.counts);
        if let Some(t) = r.established_at {
            up_times.push(t.duration_since(start).as_secs_f64());
        }
        missing += r.tracker.missing();
        extra += r.tracker.counts.extra();
        let ok = if opts.tolerate_unwanted {
            r.tracker.missing() == 0 && r.tracker.counts.unknown == 0
        } else {
            r.tracker.converged()
        };
        converged += usize::from(ok && r.closed.is_none());
        eor_early += usize::from(r.tracker.eor_before_routes);
        if let Some(c) = &r.closed {
            closed += 1;
            if errors.len() < 5 {
                errors.push(format!("session {} ended: {c}", r.tracker.session));
            }
        }
        if let (None, Some(e)) = (r.established_at, &r.error) {
            if errors.len() < 5 {
                errors.push(format!(
                    "session {} never Established after {} attempts: {e}",
                    r.tracker.session, r.attempts
                ));
            }
        }
    }
    if reports.len() < n {
        errors.push(format!("{} session tasks failed", n - reports.len()));
    }
    up_times.sort_by(f64::total_cmp);
    Ok(ScaleResult {
        dut: dut_name.to_string(),
        sessions: n,
        vnis: layout.plan.vnis,
        macs_per_session: layout.plan.macs_per_session,
        routes,
        established: up_times.len(),
        converged,
        closed,
        all_up_seconds: all_up.map(|t| t.duration_since(start).as_secs_f64()),
        // The instant the last session converged, when all did (the coordinator only polls).
        converged_seconds: all_converged
            .and_then(|_| reports.iter().filter_map(|r| r.tracker.converged_at).max())
            .map(|t| t.duration_since(start).as_secs_f64()),
        expected_routes,
        missing,
        extra: if opts.tolerate_unwanted {
            counts.unknown
        } else {
            extra
        },
        counts,
        eor_before_routes: eor_early,
        setup: setup_points(&up_times, n),
        dut_peak_rss,
        dut_cpu_seconds: dut_cpu,
        harness_cpu_seconds: harness_cpu,
        wall_seconds: wall,
        load_avg: (load0, load_avg()),
        errors,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn setup_points_measure_the_rate_around_each_mark() {
        let up: Vec<f64> = (1..=2000).map(|i| i as f64 / 100.0).collect();
        let p = setup_points(&up, 2000);
        assert_eq!(
            p.iter().map(|x| x.sessions).collect::<Vec<_>>(),
            vec![100, 1000, 2000]
        );
        for x in &p {
            assert!((x.rate - 100.0).abs() < 3.0, "{x:?}");
        }
    }
}
