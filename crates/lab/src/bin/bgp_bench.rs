//! `bgp-bench`: runs the peer-comparison scenarios of issue #3 (item 9) against FRR, GoBGP
//! and (once it exists) evpnd, side by side in network namespaces. See bench/README.md.

use clap::{Parser, ValueEnum};
use evpnd_lab::bench::{
    self, BenchOptions, BenchResult, DutKind, EvpndDut, FrrDut, FrrKernelDut, GobgpDut,
    KernelOptions, KernelResult, Scenario,
};
use evpnd_lab::routes::RouteKind;
use evpnd_lab::{is_root, LabError, Tracking};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DutName {
    Frr,
    Gobgp,
    Evpnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ScenarioName {
    /// (a) one generator -> DUT -> one sink.
    Ingest,
    /// (b) one generator -> DUT (route reflector) -> K client sinks.
    Fanout,
    /// (c) P generators x M routes each -> DUT -> one sink.
    Peers,
    /// The standard set reported in bench/README.md.
    Suite,
    /// The harness alone (generator -> sink, no DUT): the ceiling of any DUT figure.
    Calibrate,
    /// N type-2 routes -> DUT -> N remote-MAC FDB entries in the kernel (FRR with zebra,
    /// evpnd with kind = "linux"), beside the floor program (--floor-bin).
    KernelInstall,
    /// N type-5 routes -> evpnd (kind = "linux", one VRF as a namespace) -> N routes in the
    /// VRF's namespace, beside the route floor program (--floor-bin route_floor).
    KernelInstallType5,
}

/// Peer-comparison BGP EVPN benchmark (needs root: it creates network namespaces).
#[derive(Parser, Debug)]
#[command(name = "bgp-bench")]
struct Args {
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "ingest")]
    scenario: ScenarioName,
    /// DUTs to compare (repeat); default frr and gobgp (plus evpnd when --evpnd-bin is given).
    #[arg(long = "dut", value_enum)]
    duts: Vec<DutName>,
    /// Routes per generator.
    #[arg(long, default_value_t = 20_000)]
    routes: usize,
    /// Route-reflector clients (fanout).
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Generator peers (peers).
    #[arg(long, default_value_t = 10)]
    peers: usize,
    /// Route kinds, comma-separated: mac, mac-ip, mac-ip6, multicast, prefix (split evenly).
    #[arg(long, default_value = "mac")]
    kind: String,
    /// Bound on convergence, seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Runs per scenario and DUT; the fastest is reported (the machine is shared: the best of
    /// several runs is the least disturbed one).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Run GoBGP above its 20 000-route limit.
    #[arg(long)]
    force: bool,
    /// Seconds the DUT's peak RSS is still sampled after convergence (an NVE DUT goes on
    /// importing and installing after reflecting: bench/README.md "Whole NVE process").
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// Routes the DUT originates itself (an NVE DUT's type-3 route per VNI): the sink
    /// converges at the generated routes plus these.
    #[arg(long, default_value_t = 0)]
    dut_routes: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// evpnd binary (enables the evpnd DUT).
    #[arg(long)]
    evpnd_bin: Option<PathBuf>,
    /// evpnd config template file (placeholders: see bench/README.md).
    #[arg(long)]
    evpnd_config: Option<PathBuf>,
    /// evpnd per-neighbour template file.
    #[arg(long)]
    evpnd_neighbor: Option<PathBuf>,
    /// evpnd arguments (repeat), e.g. --evpnd-arg=--config --evpnd-arg={CONFIG}.
    #[arg(long = "evpnd-arg", allow_hyphen_values = true)]
    evpnd_args: Vec<String>,
    /// kernel-install: the floor program (target/release/examples/fdb_floor), run beside the
    /// DUTs; kernel-install-type5: the route floor (target/release/examples/route_floor), run
    /// once per repeat as `route-floor` (`--inside --entries N` plus --floor-arg). For
    /// kernel-install the FDB floor runs
    /// DUTs three ways: batched (`floor`), one ACK per message (`floor-ack-each`), and shaped
    /// like evpnd's backend writes (`floor-as-evpnd`: self + master entry per MAC, 256 KiB
    /// chunks).
    #[arg(long)]
    floor_bin: Option<PathBuf>,
    /// kernel-install: arguments for the floor's batched run (e.g. --floor-arg=--chunk
    /// --floor-arg=16384).
    #[arg(long = "floor-arg", allow_hyphen_values = true)]
    floor_args: Vec<String>,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("bgp-bench: {e}");
        std::process::exit(1);
    }
}

fn dut_for(name: DutName, args: &Args) -> Result<Box<dyn DutKind>, LabError> {
    Ok(match name {
        // With a kernel data plane: zebra installs what bgpd imports.
        DutName::Frr if args.scenario == ScenarioName::KernelInstall => Box::new(FrrKernelDut),
        DutName::Frr => Box::new(FrrDut),
        DutName::Gobgp => Box::new(GobgpDut),
        DutName::Evpnd => {
            let read = |p: &Option<PathBuf>, what: &str| -> Result<String, LabError> {
                let p = p
                    .as_ref()
                    .ok_or_else(|| LabError::new(format!("evpnd needs --evpnd-{what}")))?;
                std::fs::read_to_string(p)
                    .map_err(|e| LabError::new(format!("{}: {e}", p.display())))
            };
            Box::new(EvpndDut {
                name: "evpnd".into(),
                binary: args
                    .evpnd_bin
                    .clone()
                    .ok_or_else(|| LabError::new("evpnd needs --evpnd-bin"))?,
                config_template: read(&args.evpnd_config, "config")?,
                neighbor_template: read(&args.evpnd_neighbor, "neighbor")?,
                args: args.evpnd_args.clone(),
            })
        }
    })
}

fn real_main() -> Result<(), LabError> {
    let args = Args::parse();
    if !is_root() {
        return Err(LabError::new("must run as root (network namespaces)"));
    }
    let kinds = args
        .kind
        .split(',')
        .map(str::parse::<RouteKind>)
        .collect::<Result<Vec<_>, _>>()?;
    let mut duts = args.duts.clone();
    if args.scenario == ScenarioName::KernelInstallType5 {
        // Only evpnd has VRFs without VRF devices; the route floor runs beside it.
        if args.evpnd_bin.is_none() {
            return Err(LabError::new(
                "kernel-install-type5 needs --evpnd-bin (and bench/evpnd-vrf.conf.tmpl)",
            ));
        }
        duts = vec![DutName::Evpnd];
    } else if duts.is_empty() && args.scenario == ScenarioName::KernelInstall {
        duts = vec![DutName::Frr];
        if args.evpnd_bin.is_some() {
            duts.insert(0, DutName::Evpnd);
        }
    } else if duts.is_empty() {
        duts = vec![DutName::Frr, DutName::Gobgp];
        if args.evpnd_bin.is_some() {
            duts.insert(0, DutName::Evpnd);
        }
    }
    let duts = duts
        .iter()
        .map(|d| dut_for(*d, &args))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = BenchOptions {
        kinds,
        timeout: Duration::from_secs(args.timeout),
        force: args.force,
        hold: Duration::from_secs(args.hold),
        dut_routes: args.dut_routes,
        ..BenchOptions::default()
    };
    if args.scenario == ScenarioName::Calibrate {
        let mut rs = Vec::new();
        for t in [Tracking::Full, Tracking::Keys, Tracking::Count] {
            rs.push(bench::calibrate(args.routes, &opts.kinds, t, opts.timeout)?);
        }
        // With more than one client: the fan-out floor too (the harness with a perfect
        // route reflector), best of --repeat.
        if args.clients > 1 {
            let mut best: Option<BenchResult> = None;
            for _ in 0..args.repeat.max(1) {
                let r =
                    bench::calibrate_fanout(args.routes, args.clients, &opts.kinds, opts.timeout)?;
                if best.as_ref().is_none_or(|b| r.seconds < b.seconds) {
                    best = Some(r);
                }
            }
            rs.extend(best);
        }
        print!("{}", bench::report(&rs));
        if let Some(p) = &args.json {
            let v: Vec<_> = rs.iter().map(BenchResult::to_json).collect();
            std::fs::write(p, serde_json::to_string_pretty(&v).unwrap_or_default())
                .map_err(|e| LabError::new(format!("{}: {e}", p.display())))?;
        }
        return Ok(());
    }
    if matches!(
        args.scenario,
        ScenarioName::KernelInstall | ScenarioName::KernelInstallType5
    ) {
        return kernel_install(&args, &duts);
    }
    let plan: Vec<Scenario> = match args.scenario {
        ScenarioName::Ingest => vec![Scenario::Ingest {
            routes: args.routes,
        }],
        ScenarioName::Fanout => vec![Scenario::FanOut {
            routes: args.routes,
            clients: args.clients,
        }],
        ScenarioName::Peers => vec![Scenario::ManyPeers {
            peers: args.peers,
            routes_per_peer: args.routes,
        }],
        ScenarioName::Calibrate
        | ScenarioName::KernelInstall
        | ScenarioName::KernelInstallType5 => Vec::new(),
        ScenarioName::Suite => vec![
            Scenario::Ingest { routes: 100_000 },
            Scenario::Ingest { routes: 20_000 },
            Scenario::FanOut {
                routes: 10_000,
                clients: 10,
            },
            Scenario::ManyPeers {
                peers: 10,
                routes_per_peer: 2_000,
            },
        ],
    };
    let mut results: Vec<BenchResult> = Vec::new();
    let mut failures = 0;
    for sc in &plan {
        for dut in &duts {
            if let Some(limit) = dut.route_limit() {
                if sc.total_routes() > limit && !opts.force {
                    eprintln!(
                        "skipping {} for {}: above its {limit}-route limit",
                        sc.label(),
                        dut.name()
                    );
                    continue;
                }
            }
            let mut best: Option<BenchResult> = None;
            for attempt in 1..=args.repeat.max(1) {
                eprintln!("running {} on {} ({attempt}) ...", sc.label(), dut.name());
                match bench::run(dut.as_ref(), sc, &opts) {
                    Ok(r) => {
                        eprintln!(
                            "  {:.3} s, {:.0} routes/s, peak RSS {:.1} MiB, load {:.1}",
                            r.seconds,
                            r.routes_per_sec,
                            r.peak_rss as f64 / 1048576.0,
                            r.load_avg
                        );
                        match &best {
                            Some(b) if b.seconds <= r.seconds => {}
                            _ => best = Some(r),
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        eprintln!("  FAILED: {e}");
                    }
                }
            }
            results.extend(best);
        }
    }
    print!("{}", bench::report(&results));
    if let Some(p) = &args.json {
        let v: Vec<_> = results.iter().map(BenchResult::to_json).collect();
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap_or_default())
            .map_err(|e| LabError::new(format!("{}: {e}", p.display())))?;
    }
    if failures > 0 {
        return Err(LabError::new(format!("{failures} run(s) failed")));
    }
    Ok(())
}

/// The median of `xs` (sorted in place); 0 when empty.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// `--scenario kernel-install` (and `kernel-install-type5`): every repeat runs the floor
/// (for FDB entries: batched, then one ACK per message, then shaped like evpnd's writes; for
/// routes: once) and each DUT in turn, so all of them see the same machine; prints every run,
/// the best run per DUT with its ratios, and the medians.
fn kernel_install(args: &Args, duts: &[Box<dyn DutKind>]) -> Result<(), LabError> {
    let opts = KernelOptions {
        routes: args.routes,
        timeout: Duration::from_secs(args.timeout),
        ..KernelOptions::default()
    };
    let type5 = args.scenario == ScenarioName::KernelInstallType5;
    let mut runs: Vec<KernelResult> = Vec::new();
    let mut failures = 0;
    let mut record = |what: String, r: Result<KernelResult, LabError>| match r {
        Ok(r) => {
            eprintln!(
                "  {what}: {:.3} s (first entry {:.3} s, install {:.3} s, sent {:.3} s), load {:.1}",
                r.seconds, r.first_entry_seconds, r.install_seconds, r.send_seconds, r.load_avg
            );
            runs.push(r);
        }
        Err(e) => {
            failures += 1;
            eprintln!("  {what}: FAILED: {e}");
        }
    };
    for attempt in 1..=args.repeat.max(1) {
        let scenario = args
            .scenario
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string());
        eprintln!("{scenario} {} (run {attempt}) ...", args.routes);
        if type5 {
            match &args.floor_bin {
                Some(bin) => {
                    // The floor under the same route watcher as evpnd (the ratio's figure),
                    // then with none (the figure before the watcher, for comparison).
                    for (label, watched) in [
                        (bench::ROUTE_FLOOR, true),
                        (bench::ROUTE_FLOOR_UNWATCHED, false),
                    ] {
                        let r = bench::route_floor(
                            bin,
                            label,
                            args.routes,
                            &args.floor_args,
                            opts.timeout,
                            watched,
                        );
                        record(label.into(), r);
                    }
                }
                None => eprintln!("  route-floor: not run (no --floor-bin)"),
            }
            for dut in duts {
                record(dut.name(), bench::kernel_install_type5(dut.as_ref(), &opts));
            }
            continue;
        }
        if let Some(bin) = &args.floor_bin {
            let as_evpnd = ["--master"].map(String::from).to_vec();
            let variants = [
                ("floor", args.floor_args.clone()),
                ("floor-ack-each", vec!["--ack-each".to_string()]),
                ("floor-as-evpnd", as_evpnd),
            ];
            for (label, extra) in variants {
                let r = bench::floor(bin, label, args.routes, &extra, opts.timeout);
                record(label.into(), r);
            }
        }
        for dut in duts {
            record(dut.name(), bench::kernel_install(dut.as_ref(), &opts));
        }
    }
    let mut names: Vec<String> = Vec::new();
    for r in &runs {
        if !names.contains(&r.dut) {
            names.push(r.dut.clone());
        }
    }
    let best: Vec<KernelResult> = names
        .iter()
        .filter_map(|n| {
            runs.iter()
                .filter(|r| &r.dut == n)
                .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
                .cloned()
        })
        .collect();
    println!("best of {} run(s):", args.repeat.max(1));
    if type5 {
        print!("{}", bench::type5_report(&best));
    } else {
        print!("{}", bench::kernel_report(&best));
    }
    println!("medians:");
    for n in &names {
        let of = |f: fn(&KernelResult) -> f64| {
            median(
                &mut runs
                    .iter()
                    .filter(|r| &r.dut == n)
                    .map(f)
                    .collect::<Vec<_>>(),
            )
        };
        println!(
            "{n}: {:.3} s (first entry {:.3} s, install {:.3} s)",
            of(|r| r.seconds),
            of(|r| r.first_entry_seconds),
            of(|r| r.install_seconds)
        );
    }
    if let Some(p) = &args.json {
        let v: Vec<_> = runs.iter().map(KernelResult::to_json).collect();
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap_or_default())
            .map_err(|e| LabError::new(format!("{}: {e}", p.display())))?;
    }
    if failures > 0 {
        return Err(LabError::new(format!("{failures} run(s) failed")));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_type5_scenario_parses_with_the_route_floor() {
        let a = Args::try_parse_from([
            "bgp-bench",
            "--scenario",
            "kernel-install-type5",
            "--routes",
            "100000",
            "--evpnd-bin",
            "target/release/evpnd",
            "--evpnd-config",
            "bench/evpnd-vrf.conf.tmpl",
            "--evpnd-neighbor",
            "bench/evpnd-neighbor.tmpl",
            "--evpnd-arg=--config",
            "--evpnd-arg={CONFIG}",
            "--floor-bin",
            "target/release/examples/route_floor",
            "--floor-arg=--chunk",
            "--floor-arg=16384",
        ])
        .unwrap();
        assert_eq!(a.scenario, ScenarioName::KernelInstallType5);
        assert_eq!(a.routes, 100_000);
        assert_eq!(a.evpnd_args, vec!["--config", "{CONFIG}"]);
        assert_eq!(a.floor_args, vec!["--chunk", "16384"]);
        assert_eq!(
            a.floor_bin.as_deref(),
            Some(std::path::Path::new("target/release/examples/route_floor"))
        );
        assert!(Args::try_parse_from(["bgp-bench", "--scenario", "kernel-install-type6"]).is_err());
    }

    #[test]
    fn the_vrf_template_renders_a_vrf_in_a_namespace_named_after_the_dut() {
        let dut = EvpndDut {
            name: "evpnd".into(),
            binary: "evpnd".into(),
            config_template: std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../bench/evpnd-vrf.conf.tmpl"
            ))
            .unwrap(),
            neighbor_template: std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../bench/evpnd-neighbor.tmpl"
            ))
            .unwrap(),
            args: Vec::new(),
        };
        let topo = bench::Topology {
            dut_addr: "198.18.0.1".parse().unwrap(),
            router_id: "198.19.0.1".parse().unwrap(),
            asn: 65000,
            neighbors: vec![bench::Neighbor {
                addr: "198.18.0.10".parse().unwrap(),
                asn: 65000,
                rr_client: false,
            }],
        };
        let text = dut.render(&topo, std::path::Path::new("/tmp/x"));
        assert!(text.contains("netns = \"{NETNS}-bench\""), "{text}");
        assert!(text.contains("l3vni = 1000"), "{text}");
        assert!(
            text.contains("import-route-targets = [\"65000:100\"]"),
            "{text}"
        );
        assert!(text.contains("address = \"198.18.0.10\""), "{text}");
    }
}
