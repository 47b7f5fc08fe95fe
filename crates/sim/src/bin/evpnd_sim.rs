//! `evpnd-sim`: runs a simulated fabric to convergence and reports how long it took, in
//! virtual time (what the fabric would take: latencies, bandwidth, timers) and in wall time
//! (what the simulation took). The benchmark of the fabric simulator:
//!
//! ```text
//! cargo run --release -p evpnd-sim --bin evpnd-sim -- --nves 1000 --rrs 2 --vnis 10 --macs-per-nve 10 --seed 1
//! ```
//!
//! Every endpoint is attached at virtual time 0, before any session is up (a cold start).
//! With `--churn N`, N random moves follow, one every `--churn-gap-ms`, and the fabric runs
//! to convergence again. The output ends with the trace hash: the same arguments give the
//! same hash.

use clap::Parser;
use evpnd_sim::{Sim, SimConfig, Topology, Workload};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a simulated EVPN fabric to convergence and time it"
)]
struct Args {
    /// Number of NVEs.
    #[arg(long, default_value_t = 100)]
    nves: usize,
    /// Number of route reflectors (0: full iBGP mesh).
    #[arg(long, default_value_t = 2)]
    rrs: usize,
    /// Number of L2VNIs in the fabric (100, 200, ...).
    #[arg(long, default_value_t = 10)]
    vnis: u32,
    /// VNIs each NVE serves (0: all of them). Memory grows with the square of the fabric
    /// when every NVE serves every VNI: 1,000 NVEs serving all of 10 VNIs would need tens of
    /// GiB.
    #[arg(long, default_value_t = 2)]
    vnis_per_nve: usize,
    /// Endpoints attached on each NVE, spread over its VNIs.
    #[arg(long, default_value_t = 10)]
    macs_per_nve: usize,
    /// The seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Shortest one-way link latency, in milliseconds.
    #[arg(long, default_value_t = 1)]
    latency_min_ms: u64,
    /// Longest one-way link latency, in milliseconds.
    #[arg(long, default_value_t = 5)]
    latency_max_ms: u64,
    /// Egress bandwidth of each node in Mbit/s (0: unlimited).
    #[arg(long, default_value_t = 10_000)]
    bandwidth_mbps: u64,
    /// Do not negotiate RT-Constraint (every NVE then receives every route).
    #[arg(long)]
    no_rt_constraint: bool,
    /// Random moves after the first convergence.
    #[arg(long, default_value_t = 0)]
    churn: usize,
    /// Virtual time between two moves, in milliseconds.
    #[arg(long, default_value_t = 10)]
    churn_gap_ms: u64,
    /// Give up after this much virtual time, in seconds.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), when known.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn run(args: &Args) -> Result<(), String> {
    let topology = if args.rrs == 0 {
        Topology::FullMesh
    } else {
        Topology::RouteReflectors(args.rrs)
    };
    let mut config = SimConfig::new(args.seed, args.nves, topology);
    config.vnis = (1..=args.vnis).map(|k| k * 100).collect();
    config.vnis_per_nve = (args.vnis_per_nve > 0).then_some(args.vnis_per_nve);
    config.latency = (
        Duration::from_millis(args.latency_min_ms),
        Duration::from_millis(args.latency_max_ms),
    );
    config.egress_bandwidth = (args.bandwidth_mbps > 0).then(|| args.bandwidth_mbps * 125_000);
    config.split_reads = false;
    config.duplicate_detection.enabled = false;
    config.rt_constraint = !args.no_rt_constraint;
    let timeout = Duration::from_secs(args.timeout_s);
    println!(
        "fabric: {} NVEs, {}, {} VNIs ({} per NVE), {} endpoints per NVE, seed {}",
        args.nves,
        if args.rrs == 0 {
            "full mesh".to_string()
        } else {
            format!("{} route reflectors", args.rrs)
        },
        args.vnis,
        if args.vnis_per_nve == 0 {
            "all".to_string()
        } else {
            args.vnis_per_nve.to_string()
        },
        args.macs_per_nve,
        args.seed
    );
    let wall = Instant::now();
    let mut sim = Sim::new(config)?;
    let mut workload = Workload::new(args.seed);
    workload.populate(&mut sim, args.macs_per_nve)?;
    let built = wall.elapsed();
    let simulated = sim.run_until_converged(timeout)?;
    let wall_converged = wall.elapsed();
    let s = sim.stats();
    println!("endpoints: {}", sim.endpoints().len());
    println!(
        "converged: simulated {:.3} s, wall {:.3} s (building {:.3} s)",
        simulated.as_secs_f64(),
        wall_converged.as_secs_f64(),
        built.as_secs_f64()
    );
    println!(
        "work: {} events, {} writes, {} bytes, {} intents, {} connections, {} checks",
        s.events, s.sends, s.bytes, s.intents, s.connects, s.checks
    );
    if args.churn > 0 {
        let start = Instant::now();
        let from = sim.now();
        let gap = Duration::from_millis(args.churn_gap_ms);
        for _ in 0..args.churn {
            if let Some(op) = workload.next_op(&sim, false) {
                Workload::apply(&mut sim, &op)?;
            }
            sim.run_for(gap);
        }
        let tail = sim.run_until_converged(timeout)?;
        println!(
            "churn: {} actions over {:.3} s, converged {:.3} s after the last; wall {:.3} s",
            args.churn,
            (sim.now() - from - tail).as_secs_f64(),
            tail.as_secs_f64(),
            start.elapsed().as_secs_f64()
        );
    }
    println!(
        "trace: hash {:016x}, {} records",
        sim.trace_hash(),
        sim.trace_len()
    );
    if let Some(mib) = peak_rss_mib() {
        println!("peak memory: {mib} MiB");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evpnd-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
