//! `session-scale`: the session-scale benchmark (issue 12, P7). Opens thousands of iBGP
//! route-reflector-client sessions with RT-Constraint from 127.64.0.0/10 to one evpnd or FRR
//! on loopback and measures when every session holds exactly its VNIs' routes. See
//! bench/README.md, section "P7 session scale".

use clap::{Parser, ValueEnum};
use evpnd_lab::scale::{
    self, evpnd_config, frr_config, HarnessOptions, NeighborForm, ScaleDut, ScalePlan, ScaleResult,
    EVPND_RR_TEMPLATE, FRR_RR_TEMPLATE,
};
use evpnd_lab::LabError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DutName {
    /// evpnd (--evpnd-bin), started with a generated configuration.
    Evpnd,
    /// FRR 8.4 bgpd -Z with dynamic neighbours (root).
    Frr,
    /// Already running at --dut-addr (memory figures with --dut-pid).
    External,
}

/// Session-scale benchmark: N RT-Constraint route-reflector clients against one DUT.
#[derive(Parser, Debug)]
#[command(name = "session-scale", version)]
struct Args {
    /// The DUT.
    #[arg(long, value_enum, default_value = "evpnd")]
    dut: DutName,
    /// Session counts to run, one fresh DUT each (comma-separated, e.g. 100,1000,10000).
    #[arg(long, default_value = "1000", value_delimiter = ',')]
    sessions: Vec<usize>,
    /// VNIs to draw memberships from.
    #[arg(long, default_value_t = 1000)]
    vnis: u32,
    /// Fewest VNIs per session.
    #[arg(long, default_value_t = 2)]
    min_vnis: usize,
    /// Most VNIs per session.
    #[arg(long, default_value_t = 5)]
    max_vnis: usize,
    /// Type-2 MAC routes per session (spread over its VNIs; each VNI adds one type-3 route).
    #[arg(long, default_value_t = 100)]
    macs: usize,
    /// Seed of the memberships.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Bound on each run (set-up and convergence), seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Send routes only once every session is Established (set-up measured alone).
    #[arg(long)]
    announce_after_all_up: bool,
    /// Stop at the first session count that does not converge exactly.
    #[arg(long)]
    stop_on_failure: bool,
    /// The evpnd binary (e.g. target/release/evpnd).
    #[arg(long)]
    evpnd_bin: Option<PathBuf>,
    /// evpnd configuration template (default: the built-in copy of
    /// bench/evpnd-rr-scale.toml.tmpl).
    #[arg(long)]
    evpnd_config: Option<PathBuf>,
    /// Configure evpnd with one [[peer-group]] (listen range 127.64.0.0/10) instead of one
    /// [[neighbor]] per session (needs dynamic neighbours).
    #[arg(long)]
    peer_group: bool,
    /// FRR bgpd.conf template (default: the built-in copy of bench/frr-rr-scale.conf.tmpl).
    #[arg(long)]
    frr_config: Option<PathBuf>,
    /// External DUT: its address.
    #[arg(long)]
    dut_addr: Option<SocketAddr>,
    /// External DUT: its pid (memory and CPU figures).
    #[arg(long)]
    dut_pid: Option<u32>,
    /// Print the DUT configuration for the first session count and exit.
    #[arg(long)]
    print_config: bool,
    /// Progress line every this many seconds (0: none).
    #[arg(long, default_value_t = 5)]
    progress: u64,
    /// Write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("session-scale: {e}");
        std::process::exit(1);
    }
}

fn read(p: &Option<PathBuf>, default: &str) -> Result<String, LabError> {
    match p {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| LabError::new(format!("{}: {e}", p.display())))
        }
        None => Ok(default.to_string()),
    }
}

fn real_main() -> Result<(), LabError> {
    let args = Args::parse();
    let form = if args.peer_group {
        NeighborForm::PeerGroup
    } else {
        NeighborForm::Explicit
    };
    let dut = match args.dut {
        DutName::Evpnd => ScaleDut::Evpnd {
            binary: args
                .evpnd_bin
                .clone()
                .ok_or_else(|| LabError::new("--dut evpnd needs --evpnd-bin"))?,
            template: read(&args.evpnd_config, EVPND_RR_TEMPLATE)?,
            form,
        },
        DutName::Frr => ScaleDut::Frr {
            template: read(&args.frr_config, FRR_RR_TEMPLATE)?,
        },
        DutName::External => ScaleDut::External {
            addr: args
                .dut_addr
                .ok_or_else(|| LabError::new("--dut external needs --dut-addr"))?,
            pid: args.dut_pid,
        },
    };
    let plan_for = |sessions: usize| ScalePlan {
        sessions,
        vnis: args.vnis,
        min_vnis: args.min_vnis,
        max_vnis: args.max_vnis,
        macs_per_session: args.macs,
        seed: args.seed,
        asn: 65000,
    };
    if args.print_config {
        let n = args.sessions.first().copied().unwrap_or(0);
        match &dut {
            ScaleDut::Evpnd { template, form, .. } => print!(
                "{}",
                evpnd_config(
                    template,
                    n,
                    65000,
                    SocketAddr::from((scale::DUT_ADDR, 179)),
                    std::path::Path::new("/tmp/evpnd-scale"),
                    *form
                )
            ),
            ScaleDut::Frr { template } => print!("{}", frr_config(template, n, 65000)),
            ScaleDut::External { .. } => {}
        }
        return Ok(());
    }
    let mut results: Vec<ScaleResult> = Vec::new();
    let mut failures = 0;
    for &n in &args.sessions {
        let plan = plan_for(n);
        let mut opts = HarnessOptions::new(SocketAddr::from((scale::DUT_ADDR, 179)));
        opts.timeout = Duration::from_secs(args.timeout);
        opts.connect_concurrency = args.concurrency;
        opts.announce_after_all_up = args.announce_after_all_up;
        opts.progress_every = (args.progress > 0).then(|| Duration::from_secs(args.progress));
        eprintln!(
            "session-scale: {} with {n} sessions, {} VNIs ({}-{} each), {} MACs/session ...",
            dut.name(),
            plan.vnis,
            plan.min_vnis,
            plan.max_vnis,
            plan.macs_per_session
        );
        let r = match scale::run_scale(&dut, &plan, &opts) {
            Ok(r) => r,
            Err(e) => {
                failures += 1;
                eprintln!("  FAILED: {e}");
                if args.stop_on_failure {
                    break;
                }
                continue;
            }
        };
        eprint!("{}", r.summary());
        let exact = r.exact();
        results.push(r);
        if !exact {
            failures += 1;
            eprintln!("  NOT EXACT (see above)");
            if args.stop_on_failure {
                break;
            }
        }
    }
    print!("{}", table(&results));
    if let Some(p) = &args.json {
        let v: Vec<_> = results.iter().map(ScaleResult::to_json).collect();
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap_or_default())
            .map_err(|e| LabError::new(format!("{}: {e}", p.display())))?;
    }
    if failures > 0 {
        return Err(LabError::new(format!(
            "{failures} run(s) failed or were not exact"
        )));
    }
    Ok(())
}

/// One row per run.
fn table(rs: &[ScaleResult]) -> String {
    let mut s = format!(
        "{:<20} {:>8} {:>6} {:>9} {:>10} {:>9} {:>9} {:>7} {:>6} {:>10} {:>9} {:>8} {:>8} {:>11}\n",
        "dut",
        "sessions",
        "vnis",
        "routes",
        "deliveries",
        "all up s",
        "conv s",
        "missing",
        "extra",
        "not wanted",
        "peak MiB",
        "DUT cpu",
        "setup/s",
        "load"
    );
    for r in rs {
        let opt = |o: Option<f64>| o.map_or("-".to_string(), |x| format!("{x:.2}"));
        s.push_str(&format!(
            "{:<20} {:>8} {:>6} {:>9} {:>10} {:>9} {:>9} {:>7} {:>6} {:>10} {:>9.1} {:>8.1} {:>8.0} {:>5.2}-{:<5.2}\n",
            r.dut,
            r.sessions,
            r.vnis,
            r.routes,
            r.expected_routes,
            opt(r.all_up_seconds),
            opt(r.converged_seconds),
            r.missing,
            r.extra,
            r.counts.unwanted + r.counts.echoed,
            r.dut_peak_rss as f64 / 1048576.0,
            r.dut_cpu_seconds,
            r.setup.last().map_or(0.0, |p| p.rate),
            r.load_avg.0,
            r.load_avg.1
        ));
    }
    s
}
