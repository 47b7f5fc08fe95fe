//! Running a scenario: the lab, the DUT, the raw speakers' sessions, the pre-encoded load,
//! and the measurements (convergence time at the sinks, DUT memory sampled from /proc), plus
//! the harness calibration without a DUT.

use super::{BenchResult, DutKind, Neighbor, Scenario, Topology, BENCH_AS, FIRST_SPEAKER};
use crate::env::tool_path;
use crate::error::{Context, LabError, Result};
use crate::netns::{Lab, LAN_IF};
use crate::process::memory_of;
use crate::routes::{encode_announcements, generate, RouteKind};
use crate::speaker::{message_chunks, nlri_key, Session, SpeakerConfig, Tracking};
use evpnd_wire::{CodecContext, Nlri};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Route kinds; the routes of each generator are split evenly between them.
    pub kinds: Vec<RouteKind>,
    /// Bound on convergence after the load starts.
    pub timeout: Duration,
    /// Bound on bringing every session up.
    pub session_timeout: Duration,
    /// Pause between "all sessions up" and the load (lets the DUT finish its initial
    /// exchanges, e.g. FRR's update-group coalesce timer).
    pub settle: Duration,
    /// Run even above the DUT's route limit.
    pub force: bool,
    /// How long the DUT's memory is still sampled after convergence: an NVE DUT (EVPN engine
    /// and data plane on) goes on importing and installing what it has already reflected to
    /// the sink, and its peak RSS (`--hold`, bench/README.md "Whole NVE process") comes then.
    pub hold: Duration,
    /// Routes the DUT originates itself and the sinks receive besides the generated ones (an
    /// NVE DUT advertises its type-3 route per VNI, RFC 7432 §11.1): the first sink converges
    /// at generated + this many.
    pub dut_routes: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            kinds: vec![RouteKind::Mac],
            timeout: Duration::from_secs(900),
            session_timeout: Duration::from_secs(60),
            settle: Duration::from_secs(2),
            force: false,
            hold: Duration::ZERO,
            dut_routes: 0,
        }
    }
}

/// The 1-minute load average from /proc/loadavg (0 if unreadable).
pub fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Splits `n` routes of generator `g` between `kinds` and pre-encodes them; returns the
/// routes (for the final check) and the UPDATE bytes.
pub(super) fn prepare_generator(
    g: usize,
    n: usize,
    kinds: &[RouteKind],
    ctx: &CodecContext,
) -> Result<(Vec<Nlri>, Vec<u8>)> {
    let gen = u8::try_from(g + 1).map_err(|_| LabError::new("at most 255 generators"))?;
    // Each generator is its own VTEP, 198.19.1.G.
    let vtep = Ipv4Addr::new(198, 19, 1, gen);
    let mut all = Vec::with_capacity(n);
    let mut bytes = Vec::new();
    let k = kinds.len().max(1);
    for (i, kind) in kinds.iter().enumerate() {
        let count = n / k + usize::from(i < n % k);
        let routes = generate(*kind, count, gen, vtep)?;
        let (b, _) = encode_announcements(ctx, *kind, &routes, vtep, BENCH_AS)?;
        bytes.extend_from_slice(&b);
        all.extend(routes);
    }
    Ok((all, bytes))
}

/// Runs `scenario` against `dut` and measures it. Everything it starts is stopped and every
/// namespace deleted before it returns, on success or error.
pub fn run(dut: &dyn DutKind, scenario: &Scenario, opts: &BenchOptions) -> Result<BenchResult> {
    let total = scenario.total_routes();
    if let Some(limit) = dut.route_limit() {
        if total > limit && !opts.force {
            return Err(LabError::new(format!(
                "{} is limited to {limit} routes (quadratic); use --force to override",
                dut.name()
            )));
        }
    }
    for t in dut.tools() {
        if tool_path(&t).is_none() {
            return Err(LabError::new(format!("{}: missing tool {t}", dut.name())));
        }
    }
    let (gens, sinks) = (scenario.generators(), scenario.sinks());
    if FIRST_SPEAKER + gens + sinks > 254 {
        return Err(LabError::new(
            "at most 244 speakers (one /24 on the tester side)",
        ));
    }
    let mut lab = Lab::new(&["dut", "tester"])?;
    lab.connect_lan()?;
    let (dut_host, tester) = (&lab.hosts()[0], &lab.hosts()[1]);
    let dut_addr = dut_host
        .underlay()
        .ok_or_else(|| LabError::new("DUT has no underlay address"))?;
    let addrs: Vec<Ipv4Addr> = (0..gens + sinks)
        .map(|i| Ipv4Addr::new(198, 18, 0, (FIRST_SPEAKER + i) as u8))
        .collect();
    for a in &addrs {
        tester.add_address(LAN_IF, &format!("{a}/24"))?;
    }
    let listeners: Vec<TcpListener> = tester
        .ns()
        .within(|| {
            addrs
                .iter()
                .map(|a| TcpListener::bind(SocketAddr::from((*a, 179))))
                .collect::<std::io::Result<Vec<_>>>()
        })?
        .context("listening on the tester addresses")?;

    // Pre-encode the load (not timed).
    let enc_ctx = CodecContext::default();
    let mut loads = Vec::with_capacity(gens);
    for g in 0..gens {
        loads.push(prepare_generator(
            g,
            scenario.routes_per_generator(),
            &opts.kinds,
            &enc_ctx,
        )?);
    }
    let wire_bytes: u64 = loads.iter().map(|(_, b)| b.len() as u64).sum();

    let topo = Topology {
        dut_addr,
        router_id: dut_host.loopback(),
        asn: BENCH_AS,
        // Generators are plain iBGP peers and sinks are route-reflector clients: the DUT
        // reflects non-client routes to clients only (RFC 4456 §6), so generators never get
        // each other's routes back and the load is exactly ingest + delivery to the sinks.
        neighbors: addrs
            .iter()
            .enumerate()
            .map(|(i, a)| Neighbor {
                addr: *a,
                asn: BENCH_AS,
                rr_client: i >= gens,
            })
            .collect(),
    };
    let running = dut.start(dut_host.ns(), &topo)?;
    let pid = running.pid();
    let diag = |e: LabError| e.context(format!("{}: {}", dut.name(), running.diagnostics()));

    // Bring every session up, in parallel (the DUT connects to each listener).
    let sessions: Vec<Result<Session>> = std::thread::scope(|s| {
        let handles: Vec<_> = listeners
            .iter()
            .zip(&addrs)
            .enumerate()
            .map(|(i, (l, a))| {
                let mut cfg = SpeakerConfig::evpn(BENCH_AS, *a);
                cfg.handshake_timeout = opts.session_timeout;
                // The first sink keeps the exact set of routes (as NLRI digests, so it keeps
                // up with well over 1 M routes/s); further fan-out sinks count NLRI only, so K
                // sinks do not starve the DUT of CPU.
                cfg.tracking = match i.cmp(&gens) {
                    std::cmp::Ordering::Less => Tracking::Off,
                    std::cmp::Ordering::Equal => Tracking::Keys,
                    std::cmp::Ordering::Greater => Tracking::Count,
                };
                cfg.peer_as = Some(BENCH_AS);
                s.spawn(move || Session::accept(l, &cfg))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(LabError::new("session thread panicked")))
            })
            .collect()
    });
    let sessions = sessions
        .into_iter()
        .collect::<Result<Vec<_>>>()
        .map_err(diag)?;
    let (generators, sink_sessions) = sessions.split_at(gens);
    for (g, s) in generators.iter().enumerate() {
        if s.ctx() != &enc_ctx {
            // The DUT negotiated differently (e.g. no 4-octet AS): encode again for it.
            loads[g] = prepare_generator(g, scenario.routes_per_generator(), &opts.kinds, s.ctx())?;
        }
    }
    std::thread::sleep(opts.settle);
    let (baseline_rss, _) =
        memory_of(pid).ok_or_else(|| diag(LabError::new("DUT process is gone")))?;

    // Sample the DUT's memory while the load runs.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::SeqCst) {
                if let Some((_, hwm)) = memory_of(pid) {
                    peak = peak.max(hwm);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };

    // Cut the load into writes before the clock starts.
    let chunks = generators
        .iter()
        .zip(&loads)
        .map(|(sess, (_, bytes))| message_chunks(sess.ctx(), bytes))
        .collect::<Result<Vec<_>>>()?;
    let load = load_avg();
    let t0 = Instant::now();
    let outcome = std::thread::scope(|s| -> Result<(Instant, Instant)> {
        let senders: Vec<_> = generators
            .iter()
            .zip(&chunks)
            .map(|(sess, chunks)| s.spawn(move || sess.send_chunks(chunks).map(|_| Instant::now())))
            .collect();
        let mut converged = t0;
        for sink in sink_sessions {
            let left = opts.timeout.saturating_sub(t0.elapsed());
            let expected = total.saturating_add(opts.dut_routes);
            converged = converged.max(sink.wait_routes(expected, left)?);
        }
        let mut sent = t0;
        for h in senders {
            let t = h
                .join()
                .map_err(|_| LabError::new("sender thread panicked"))??;
            sent = sent.max(t);
        }
        Ok((sent, converged))
    });
    if outcome.is_ok() {
        std::thread::sleep(opts.hold);
    }
    stop.store(true, Ordering::SeqCst);
    let sampled_peak = sampler.join().unwrap_or(0);
    let (sent, converged) = outcome.map_err(diag)?;
    let final_hwm = memory_of(pid).map(|(_, h)| h).unwrap_or(0);
    let peak_rss = sampled_peak.max(final_hwm);

    // Exactly the expected routes: the full sink's count matched, so every generated route
    // must be in its table; counting sinks must not have overshot (duplicates).
    for (i, sink) in sink_sessions.iter().enumerate().skip(1) {
        let st = sink.stats();
        if st.announced != total as u64 || st.withdrawn != 0 {
            return Err(LabError::new(format!(
                "sink {i}: {} announced, {} withdrawn, expected {total} announcements",
                st.announced, st.withdrawn
            )));
        }
    }
    if let Some(sink) = sink_sessions.first() {
        let keys = sink.nlri_keys();
        let mut enc = Vec::with_capacity(64);
        for (routes, _) in &loads {
            for r in routes {
                enc.clear();
                r.encode(&mut enc);
                if !keys.contains(&nlri_key(&enc)) {
                    return Err(LabError::new(format!(
                        "the sink holds {total} routes but not {r:?}"
                    )));
                }
            }
        }
    }
    let seconds = converged.duration_since(t0).as_secs_f64();
    let result = BenchResult {
        dut: dut.name(),
        scenario: scenario.label(),
        kinds: opts
            .kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(","),
        routes: total,
        sinks,
        seconds,
        send_seconds: sent.duration_since(t0).as_secs_f64(),
        routes_per_sec: total as f64 / seconds.max(1e-9),
        baseline_rss,
        peak_rss,
        bytes_per_route: peak_rss.saturating_sub(baseline_rss) as f64 / total.max(1) as f64,
        wire_bytes,
        load_avg: load,
    };
    for s in sessions {
        s.close();
    }
    drop(running);
    drop(lab);
    Ok(result)
}

/// The harness without a DUT: a generator host and a sink host joined by a veth pair, a
/// listener on the sink's address, and the pre-encoded load of generator 0. What
/// [`calibrate`] and [`calibrate_fanout`] share.
struct Bare {
    lab: Lab,
    gaddr: Ipv4Addr,
    saddr: Ipv4Addr,
    listener: TcpListener,
    /// The routes of the load (the sinks' target count).
    expected: usize,
    bytes: Vec<u8>,
}

impl Bare {
    fn new(routes: usize, kinds: &[RouteKind]) -> Result<Bare> {
        let mut lab = Lab::new(&["gen", "sink"])?;
        lab.connect_lan()?;
        let (gh, sh) = (&lab.hosts()[0], &lab.hosts()[1]);
        let (gaddr, saddr) = match (gh.underlay(), sh.underlay()) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(LabError::new("no underlay addresses")),
        };
        let listener = sh
            .ns()
            .within(|| TcpListener::bind(SocketAddr::from((saddr, 179))))??;
        let (expected, bytes) = prepare_generator(0, routes, kinds, &CodecContext::default())?;
        Ok(Bare {
            lab,
            gaddr,
            saddr,
            listener,
            expected: expected.len(),
            bytes,
        })
    }

    /// One generator session to one sink session tracking with `tracking`.
    fn pair(&self, tracking: Tracking) -> Result<(Session, Session)> {
        let (gaddr, saddr) = (self.gaddr, self.saddr);
        let (gen, sink) = std::thread::scope(|s| {
            let sink = s.spawn(|| {
                let mut cfg = SpeakerConfig::evpn(BENCH_AS, saddr);
                cfg.tracking = tracking;
                Session::accept(&self.listener, &cfg)
            });
            let mut cfg = SpeakerConfig::evpn(BENCH_AS, gaddr);
            cfg.tracking = Tracking::Off;
            let gen = self.lab.hosts()[0].ns().within(|| {
                Session::connect(Some(gaddr.into()), SocketAddr::from((saddr, 179)), &cfg)
            });
            let sink = sink
                .join()
                .unwrap_or_else(|_| Err(LabError::new("sink thread panicked")));
            (gen, sink)
        });
        Ok((gen??, sink?))
    }

    /// A result row without a DUT (memory columns 0: there is no daemon to measure).
    fn result(&self, dut: String, scenario: String, kinds: &[RouteKind]) -> BenchResult {
        BenchResult {
            dut,
            scenario,
            kinds: kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(","),
            routes: self.expected,
            sinks: 1,
            seconds: 0.0,
            send_seconds: 0.0,
            routes_per_sec: 0.0,
            baseline_rss: 0,
            peak_rss: 0,
            bytes_per_route: 0.0,
            wire_bytes: self.bytes.len() as u64,
            load_avg: 0.0,
        }
    }
}

/// Measures the harness alone: one generator straight into one sink over a veth pair, no
/// DUT in between, the sink in `tracking` mode. Its routes/s is the ceiling any DUT figure
/// can reach; a DUT result close to it measures the harness, not the DUT (the goal for evpnd
/// is ≥ 1 M routes/s). Memory columns are 0: there is no DUT.
pub fn calibrate(
    routes: usize,
    kinds: &[RouteKind],
    tracking: Tracking,
    timeout: Duration,
) -> Result<BenchResult> {
    let bare = Bare::new(routes, kinds)?;
    let (gen, sink) = bare.pair(tracking)?;
    let chunks = message_chunks(gen.ctx(), &bare.bytes)?;
    let load = load_avg();
    let t0 = Instant::now();
    gen.send_chunks(&chunks)?;
    let sent = Instant::now();
    let done = sink.wait_routes(bare.expected, timeout)?;
    let seconds = done.duration_since(t0).as_secs_f64();
    gen.close();
    drop(sink);
    Ok(BenchResult {
        seconds,
        send_seconds: sent.duration_since(t0).as_secs_f64(),
        routes_per_sec: routes as f64 / seconds.max(1e-9),
        load_avg: load,
        ..bare.result(
            format!("harness ({tracking:?} sink)").to_lowercase(),
            format!("calibrate {routes}"),
            kinds,
        )
    })
}

/// The fan-out floor: the harness with a perfect route reflector in place of the DUT. One
/// speaker writes the generator's pre-encoded UPDATEs straight to `clients` sinks over a veth
/// pair, one writer thread per sink, the sinks tracking as in the fan-out scenario (the first
/// keeps the key set, the others count). No DUT does less work than this (receiving once,
/// writing the same bytes `clients` times), so a DUT's fan-out time close to it measures the
/// kernel and the sinks on these cores, not the DUT. Memory columns are 0: there is no DUT.
pub fn calibrate_fanout(
    routes: usize,
    clients: usize,
    kinds: &[RouteKind],
    timeout: Duration,
) -> Result<BenchResult> {
    let bare = Bare::new(routes, kinds)?;
    let pairs = (0..clients)
        .map(|i| {
            bare.pair(if i == 0 {
                Tracking::Keys
            } else {
                Tracking::Count
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ctx = pairs
        .first()
        .map(|(gen, _)| gen.ctx().clone())
        .unwrap_or_default();
    let chunks = message_chunks(&ctx, &bare.bytes)?;
    let load = load_avg();
    let t0 = Instant::now();
    let done = std::thread::scope(|s| -> Result<Instant> {
        let writers: Vec<_> = pairs
            .iter()
            .map(|(gen, _)| s.spawn(|| gen.send_chunks(&chunks)))
            .collect();
        let mut done = t0;
        for (_, sink) in &pairs {
            let left = timeout.saturating_sub(t0.elapsed());
            done = done.max(sink.wait_routes(bare.expected, left)?);
        }
        for w in writers {
            w.join()
                .map_err(|_| LabError::new("writer thread panicked"))??;
        }
        Ok(done)
    })?;
    let seconds = done.duration_since(t0).as_secs_f64();
    for (gen, sink) in pairs {
        gen.close();
        drop(sink);
    }
    Ok(BenchResult {
        sinks: clients,
        seconds,
        send_seconds: seconds,
        routes_per_sec: routes as f64 / seconds.max(1e-9),
        load_avg: load,
        ..bare.result(
            "harness (fan-out floor)".into(),
            format!("calibrate {routes}x{clients}"),
            kinds,
        )
    })
}
