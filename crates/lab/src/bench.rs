//! The peer-comparison benchmark (issue #3, item 9): the same scenario against several
//! devices under test (DUT) in network namespaces, measured the same way.
//!
//! Topology: a lab of two namespaces. The DUT runs in `dut` (198.18.0.1, AS 65000, route
//! reflector). Our raw speakers run in `tester`, each on its own address 198.18.0.10+i and in
//! the same AS, listening passively on port 179 so the DUT opens every session. Generators
//! are plain iBGP peers that announce pre-encoded UPDATEs; sinks are route-reflector clients
//! that count what the DUT reflects to them.
//!
//! Measurement: once every session is Established and the DUT has settled, the clock starts
//! as the generators begin writing; it stops when the last sink holds exactly the expected
//! routes (the instant its reader saw the count reach the target). Memory is the DUT process's
//! VmHWM (peak RSS) from /proc, sampled during the run, minus its VmRSS just before the load.

use crate::env::tool_path;
use crate::error::{Context, LabError, Result};
use crate::frr::{instance_dir, remove_instance_dir, tail, Frr, FrrOptions};
use crate::gobgp::Gobgp;
use crate::netns::{Lab, Netns, LAN_IF};
use crate::process::{memory_of, Daemon};
use crate::routes::{encode_announcements, generate, RouteKind};
use crate::speaker::{nlri_key, Session, SpeakerConfig, Tracking};
use evpnd_wire::{CodecContext, Nlri};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The AS of the DUT and of every raw speaker (iBGP, the DUT reflects).
pub const BENCH_AS: u32 = 65000;
/// First host number of the raw speakers on the tester side (198.18.0.10).
const FIRST_SPEAKER: usize = 10;

/// One benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// (a) One generator sends `routes` routes; one sink must receive them all from the DUT.
    Ingest {
        /// Routes announced.
        routes: usize,
    },
    /// (b) One generator sends `routes` routes; the DUT reflects them to `clients` sinks.
    FanOut {
        /// Routes announced.
        routes: usize,
        /// Route-reflector clients receiving them.
        clients: usize,
    },
    /// (c) `peers` generators send `routes_per_peer` distinct routes each; one sink receives
    /// all of them.
    ManyPeers {
        /// Generator sessions.
        peers: usize,
        /// Routes per generator.
        routes_per_peer: usize,
    },
}

impl Scenario {
    /// Generator sessions.
    pub fn generators(&self) -> usize {
        match *self {
            Scenario::ManyPeers { peers, .. } => peers,
            _ => 1,
        }
    }

    /// Routes per generator.
    pub fn routes_per_generator(&self) -> usize {
        match *self {
            Scenario::Ingest { routes } | Scenario::FanOut { routes, .. } => routes,
            Scenario::ManyPeers {
                routes_per_peer, ..
            } => routes_per_peer,
        }
    }

    /// Sink sessions.
    pub fn sinks(&self) -> usize {
        match *self {
            Scenario::FanOut { clients, .. } => clients,
            _ => 1,
        }
    }

    /// Distinct routes the DUT must hold (and every sink must receive).
    pub fn total_routes(&self) -> usize {
        self.generators() * self.routes_per_generator()
    }

    /// A short label, e.g. "fanout 10000x10".
    pub fn label(&self) -> String {
        match *self {
            Scenario::Ingest { routes } => format!("(a) ingest {routes}"),
            Scenario::FanOut { routes, clients } => format!("(b) fan-out {routes}x{clients}"),
            Scenario::ManyPeers {
                peers,
                routes_per_peer,
            } => format!("(c) {peers} peers x {routes_per_peer}"),
        }
    }
}

/// One BGP neighbour of the DUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbor {
    /// The neighbour's address (on the tester side; it listens on port 179).
    pub addr: Ipv4Addr,
    /// Its AS.
    pub asn: u32,
    /// Whether it is a route-reflector client.
    pub rr_client: bool,
}

/// What a DUT must be configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The DUT's address.
    pub dut_addr: Ipv4Addr,
    /// The DUT's router id (also its cluster id).
    pub router_id: Ipv4Addr,
    /// The DUT's AS.
    pub asn: u32,
    /// Its neighbours, all L2VPN EVPN.
    pub neighbors: Vec<Neighbor>,
}

/// A running DUT; dropping it stops the DUT.
pub trait RunningDut {
    /// The process whose memory is measured.
    fn pid(&self) -> u32;
    /// Log excerpt for error messages.
    fn diagnostics(&self) -> String;
}

/// A kind of DUT: how to start it for a topology. Implement this for a new BGP daemon.
pub trait DutKind {
    /// Short name for tables ("frr", "gobgp", "evpnd").
    fn name(&self) -> String;
    /// Largest route count this DUT should be given (GoBGP 3.10 is quadratic).
    fn route_limit(&self) -> Option<usize> {
        None
    }
    /// External programs it needs.
    fn tools(&self) -> Vec<String>;
    /// Starts the DUT in `ns` configured for `topo`.
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>>;
}

/// FRR 8.4 `bgpd -Z` (no zebra) as route reflector.
#[derive(Clone, Debug, Default)]
pub struct FrrDut;

struct FrrRunning(Frr);

impl RunningDut for FrrRunning {
    fn pid(&self) -> u32 {
        self.0.bgpd_pid().unwrap_or(0)
    }
    fn diagnostics(&self) -> String {
        let summary = self
            .0
            .vtysh("show bgp l2vpn evpn summary")
            .unwrap_or_default();
        format!("{summary}\n{}", self.0.bgpd_log(10))
    }
}

impl FrrDut {
    /// The bgpd.conf for `topo`: one route-reflector instance, L2VPN EVPN only.
    pub fn config(topo: &Topology) -> String {
        let mut c = format!(
            "hostname dut\n!\nrouter bgp {}\n bgp router-id {}\n bgp cluster-id {}\n \
             no bgp default ipv4-unicast\n no bgp ebgp-requires-policy\n",
            topo.asn, topo.router_id, topo.router_id
        );
        for n in &topo.neighbors {
            c.push_str(&format!(
                " neighbor {0} remote-as {1}\n neighbor {0} timers connect 1\n",
                n.addr, n.asn
            ));
        }
        c.push_str(" address-family l2vpn evpn\n");
        for n in &topo.neighbors {
            c.push_str(&format!("  neighbor {} activate\n", n.addr));
            if n.rr_client {
                c.push_str(&format!("  neighbor {} route-reflector-client\n", n.addr));
            }
        }
        c.push_str(" exit-address-family\n!\n");
        c
    }
}

impl DutKind for FrrDut {
    fn name(&self) -> String {
        "frr".into()
    }
    fn tools(&self) -> Vec<String> {
        vec!["/usr/lib/frr/bgpd".into(), "vtysh".into()]
    }
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>> {
        let mut opts = FrrOptions::bgp_only(FrrDut::config(topo));
        opts.start_timeout = Duration::from_secs(30);
        Ok(Box::new(FrrRunning(Frr::start(ns, &opts)?)))
    }
}

/// GoBGP 3.10 `gobgpd` as route reflector. Loads are capped at 20 000 routes.
#[derive(Clone, Debug, Default)]
pub struct GobgpDut;

struct GobgpRunning(Gobgp);

impl RunningDut for GobgpRunning {
    fn pid(&self) -> u32 {
        self.0.pid().unwrap_or(0)
    }
    fn diagnostics(&self) -> String {
        let nb = self.0.cli(&["neighbor"]).unwrap_or_default();
        format!("{nb}\n{}", self.0.log(10))
    }
}

impl GobgpDut {
    /// The gobgpd TOML config for `topo`.
    pub fn config(topo: &Topology) -> String {
        let mut c = format!(
            "[global.config]\n  as = {}\n  router-id = \"{}\"\n  local-address-list = [\"{}\"]\n",
            topo.asn, topo.router_id, topo.dut_addr
        );
        for n in &topo.neighbors {
            c.push_str(&format!(
                "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    \
                 peer-as = {}\n  [neighbors.timers.config]\n    connect-retry = 1\n",
                n.addr, n.asn
            ));
            if n.rr_client {
                c.push_str(&format!(
                    "  [neighbors.route-reflector.config]\n    route-reflector-client = true\n    \
                     route-reflector-cluster-id = \"{}\"\n",
                    topo.router_id
                ));
            }
            c.push_str(
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      \
                 afi-safi-name = \"l2vpn-evpn\"\n",
            );
        }
        c
    }
}

impl DutKind for GobgpDut {
    fn name(&self) -> String {
        "gobgp".into()
    }
    fn route_limit(&self) -> Option<usize> {
        Some(20_000)
    }
    fn tools(&self) -> Vec<String> {
        vec!["gobgpd".into(), "gobgp".into()]
    }
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>> {
        Ok(Box::new(GobgpRunning(Gobgp::start(
            ns,
            &GobgpDut::config(topo),
            Duration::from_secs(30),
        )?)))
    }
}

/// evpnd (or any daemon) started from a binary and config templates.
///
/// The config template may contain `{ROUTER_ID}`, `{LOCAL_AS}`, `{LOCAL_ADDR}`, `{WORKDIR}`,
/// `{API_SOCKET}` and `{NEIGHBORS}`; the last is replaced by the neighbour template rendered
/// once per neighbour with `{NEIGHBOR_ADDR}`, `{NEIGHBOR_AS}` and `{RR_CLIENT}` (true/false).
/// The arguments may contain `{CONFIG}` (the rendered file), `{WORKDIR}` and `{API_SOCKET}`.
#[derive(Clone, Debug)]
pub struct EvpndDut {
    /// Name in the tables.
    pub name: String,
    /// The daemon binary.
    pub binary: PathBuf,
    /// Config file template.
    pub config_template: String,
    /// Per-neighbour template.
    pub neighbor_template: String,
    /// Command-line arguments.
    pub args: Vec<String>,
}

struct EvpndRunning {
    daemon: Daemon,
    dir: PathBuf,
}

impl RunningDut for EvpndRunning {
    fn pid(&self) -> u32 {
        self.daemon.pid()
    }
    fn diagnostics(&self) -> String {
        tail(&self.dir.join("daemon.log"), 15)
    }
}

impl Drop for EvpndRunning {
    fn drop(&mut self) {
        self.daemon.stop(Duration::from_secs(5));
        remove_instance_dir(&self.dir);
    }
}

impl EvpndDut {
    /// The rendered config for `topo` with instance directory `dir`.
    pub fn render(&self, topo: &Topology, dir: &std::path::Path) -> String {
        let neighbors: String = topo
            .neighbors
            .iter()
            .map(|n| {
                self.neighbor_template
                    .replace("{NEIGHBOR_ADDR}", &n.addr.to_string())
                    .replace("{NEIGHBOR_AS}", &n.asn.to_string())
                    .replace("{RR_CLIENT}", if n.rr_client { "true" } else { "false" })
            })
            .collect();
        // Neighbours first, so that their template may use the DUT-wide placeholders too.
        self.subst(
            &self.config_template.replace("{NEIGHBORS}", &neighbors),
            dir,
        )
        .replace("{ROUTER_ID}", &topo.router_id.to_string())
        .replace("{LOCAL_AS}", &topo.asn.to_string())
        .replace("{LOCAL_ADDR}", &topo.dut_addr.to_string())
    }

    fn subst(&self, s: &str, dir: &std::path::Path) -> String {
        s.replace("{WORKDIR}", &dir.display().to_string())
            .replace("{API_SOCKET}", &dir.join("api.sock").display().to_string())
            .replace("{CONFIG}", &dir.join("config").display().to_string())
    }
}

impl DutKind for EvpndDut {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn tools(&self) -> Vec<String> {
        vec![self.binary.display().to_string()]
    }
    fn start(&self, ns: &Netns, topo: &Topology) -> Result<Box<dyn RunningDut>> {
        let dir = instance_dir("dut")?;
        std::fs::write(dir.join("config"), self.render(topo, &dir))?;
        let log = std::fs::File::create(dir.join("daemon.log"))?;
        let log2 = log.try_clone()?;
        let mut cmd = ns.command(&self.binary.display().to_string());
        for a in &self.args {
            cmd.arg(self.subst(a, &dir));
        }
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        let mut daemon = Daemon::spawn(self.name.clone(), &mut cmd)?;
        std::thread::sleep(Duration::from_millis(300));
        if !daemon.is_running() {
            let msg = tail(&dir.join("daemon.log"), 20);
            remove_instance_dir(&dir);
            return Err(LabError::new(format!("{} exited: {msg}", self.name)));
        }
        Ok(Box::new(EvpndRunning { daemon, dir }))
    }
}

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
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            kinds: vec![RouteKind::Mac],
            timeout: Duration::from_secs(900),
            session_timeout: Duration::from_secs(60),
            settle: Duration::from_secs(2),
            force: false,
        }
    }
}

/// The measurements of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// DUT name.
    pub dut: String,
    /// Scenario label.
    pub scenario: String,
    /// Route kinds.
    pub kinds: String,
    /// Distinct routes.
    pub routes: usize,
    /// Sink sessions.
    pub sinks: usize,
    /// Load start → last sink converged.
    pub seconds: f64,
    /// Load start → every generator finished writing (the DUT had read all but socket
    /// buffers).
    pub send_seconds: f64,
    /// Distinct routes per second (routes / seconds).
    pub routes_per_sec: f64,
    /// DUT VmRSS just before the load, bytes.
    pub baseline_rss: u64,
    /// DUT VmHWM (peak RSS) at the end, bytes.
    pub peak_rss: u64,
    /// (peak − baseline) / routes.
    pub bytes_per_route: f64,
    /// UPDATE bytes the generators sent.
    pub wire_bytes: u64,
    /// The machine's 1-minute load average when the load started (other work on the same
    /// cores skews every figure; read results with it).
    pub load_avg: f64,
}

/// The 1-minute load average from /proc/loadavg (0 if unreadable).
pub fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

impl BenchResult {
    /// JSON for machine-readable reports.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "dut": self.dut, "scenario": self.scenario, "kinds": self.kinds,
            "routes": self.routes, "sinks": self.sinks, "seconds": self.seconds,
            "send_seconds": self.send_seconds, "routes_per_sec": self.routes_per_sec,
            "baseline_rss": self.baseline_rss, "peak_rss": self.peak_rss,
            "bytes_per_route": self.bytes_per_route, "wire_bytes": self.wire_bytes,
            "load_avg": self.load_avg,
        })
    }
}

/// Splits `n` routes of generator `g` between `kinds` and pre-encodes them; returns the
/// routes (for the final check) and the UPDATE bytes.
fn prepare_generator(
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

    let load = load_avg();
    let t0 = Instant::now();
    let outcome = std::thread::scope(|s| -> Result<(Instant, Instant)> {
        let senders: Vec<_> = generators
            .iter()
            .zip(&loads)
            .map(|(sess, (_, bytes))| {
                s.spawn(move || sess.send_bytes(bytes).map(|_| Instant::now()))
            })
            .collect();
        let mut converged = t0;
        for sink in sink_sessions {
            let left = opts.timeout.saturating_sub(t0.elapsed());
            converged = converged.max(sink.wait_routes(total, left)?);
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
    let ctx = CodecContext::default();
    let (expected, bytes) = prepare_generator(0, routes, kinds, &ctx)?;
    let (gen, sink) = std::thread::scope(|s| {
        let sink = s.spawn(|| {
            let mut cfg = SpeakerConfig::evpn(BENCH_AS, saddr);
            cfg.tracking = tracking;
            Session::accept(&listener, &cfg)
        });
        let mut cfg = SpeakerConfig::evpn(BENCH_AS, gaddr);
        cfg.tracking = Tracking::Off;
        let gen = gh
            .ns()
            .within(|| Session::connect(Some(gaddr.into()), SocketAddr::from((saddr, 179)), &cfg));
        let sink = sink
            .join()
            .unwrap_or_else(|_| Err(LabError::new("sink thread panicked")));
        (gen, sink)
    });
    let (gen, sink) = (gen??, sink?);
    let load = load_avg();
    let t0 = Instant::now();
    gen.send_bytes(&bytes)?;
    let sent = Instant::now();
    let done = sink.wait_routes(expected.len(), timeout)?;
    let seconds = done.duration_since(t0).as_secs_f64();
    gen.close();
    drop(sink);
    drop(lab);
    Ok(BenchResult {
        dut: format!("harness ({tracking:?} sink)").to_lowercase(),
        scenario: format!("calibrate {routes}"),
        kinds: kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(","),
        routes,
        sinks: 1,
        seconds,
        send_seconds: sent.duration_since(t0).as_secs_f64(),
        routes_per_sec: routes as f64 / seconds.max(1e-9),
        // No DUT: there is no daemon memory to report.
        baseline_rss: 0,
        peak_rss: 0,
        bytes_per_route: 0.0,
        wire_bytes: bytes.len() as u64,
        load_avg: load,
    })
}

/// `a / b` with three significant digits (ratios here span 0.001 to 1000).
fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 || !a.is_finite() || !b.is_finite() {
        return "n/a".into();
    }
    let r = a / b;
    let digits = (2 - r.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{r:.digits$}")
}

/// Formats results as a table, then for each scenario the ratios of every DUT to the first
/// DUT that ran it (time, rate and bytes per route).
pub fn report(results: &[BenchResult]) -> String {
    let w_dut = results
        .iter()
        .map(|r| r.dut.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let w_kinds = results
        .iter()
        .map(|r| r.kinds.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut s = format!(
        "{:<26} {:<w_dut$} {:<w_kinds$} {:>8} {:>5} {:>9} {:>11} {:>9} {:>9} {:>11} {:>5}\n",
        "scenario",
        "dut",
        "kinds",
        "routes",
        "sinks",
        "seconds",
        "routes/s",
        "base MiB",
        "peak MiB",
        "bytes/route",
        "load"
    );
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    for r in results {
        s.push_str(&format!(
            "{:<26} {:<w_dut$} {:<w_kinds$} {:>8} {:>5} {:>9.3} {:>11.0} {:>9.1} {:>9.1} {:>11.0} {:>5.1}\n",
            r.scenario,
            r.dut,
            r.kinds,
            r.routes,
            r.sinks,
            r.seconds,
            r.routes_per_sec,
            mib(r.baseline_rss),
            mib(r.peak_rss),
            r.bytes_per_route,
            r.load_avg
        ));
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    for r in results {
        let key = (r.scenario.clone(), r.kinds.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let group: Vec<&BenchResult> = results
            .iter()
            .filter(|x| x.scenario == key.0 && x.kinds == key.1)
            .collect();
        if group.len() < 2 {
            continue;
        }
        let base = group[0];
        for o in &group[1..] {
            s.push_str(&format!(
                "ratio {} / {} on {} {}: time x{}, routes/s x{}, bytes/route x{}\n",
                o.dut,
                base.dut,
                key.0,
                key.1,
                ratio(o.seconds, base.seconds),
                ratio(o.routes_per_sec, base.routes_per_sec),
                ratio(o.bytes_per_route, base.bytes_per_route),
            ));
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        Topology {
            dut_addr: Ipv4Addr::new(198, 18, 0, 1),
            router_id: Ipv4Addr::new(198, 19, 0, 1),
            asn: 65000,
            neighbors: vec![
                Neighbor {
                    addr: Ipv4Addr::new(198, 18, 0, 10),
                    asn: 65000,
                    rr_client: true,
                },
                Neighbor {
                    addr: Ipv4Addr::new(198, 18, 0, 11),
                    asn: 65001,
                    rr_client: false,
                },
            ],
        }
    }

    #[test]
    fn scenario_arithmetic() {
        let c = Scenario::ManyPeers {
            peers: 100,
            routes_per_peer: 10_000,
        };
        assert_eq!(
            (c.generators(), c.sinks(), c.total_routes()),
            (100, 1, 1_000_000)
        );
        let b = Scenario::FanOut {
            routes: 10,
            clients: 7,
        };
        assert_eq!((b.generators(), b.sinks(), b.total_routes()), (1, 7, 10));
    }

    #[test]
    fn evpnd_templates_are_rendered() {
        let d = EvpndDut {
            name: "evpnd".into(),
            binary: "/bin/true".into(),
            config_template: "id={ROUTER_ID} as={LOCAL_AS} api={API_SOCKET}\n{NEIGHBORS}".into(),
            neighbor_template: "nb {NEIGHBOR_ADDR} {NEIGHBOR_AS} rr={RR_CLIENT}\n".into(),
            args: vec!["--config".into(), "{CONFIG}".into()],
        };
        let out = d.render(&topo(), std::path::Path::new("/w"));
        assert_eq!(
            out,
            "id=198.19.0.1 as=65000 api=/w/api.sock\nnb 198.18.0.10 65000 rr=true\n\
             nb 198.18.0.11 65001 rr=false\n"
        );
    }

    #[test]
    fn frr_and_gobgp_configs_name_every_neighbor() {
        let f = FrrDut::config(&topo());
        assert!(f.contains("neighbor 198.18.0.10 route-reflector-client"));
        assert!(!f.contains("neighbor 198.18.0.11 route-reflector-client"));
        assert!(f.contains("neighbor 198.18.0.11 remote-as 65001"));
        let g = GobgpDut::config(&topo());
        assert_eq!(g.matches("[[neighbors]]").count(), 2);
        assert_eq!(g.matches("route-reflector-client = true").count(), 1);
    }

    #[test]
    fn report_has_ratios_per_scenario() {
        let r = |dut: &str, secs: f64| BenchResult {
            dut: dut.into(),
            scenario: "(a) ingest 10".into(),
            kinds: "mac".into(),
            routes: 10,
            sinks: 1,
            seconds: secs,
            send_seconds: secs,
            routes_per_sec: 10.0 / secs,
            baseline_rss: 0,
            peak_rss: 1000,
            bytes_per_route: 100.0,
            wire_bytes: 0,
            load_avg: 0.0,
        };
        let out = report(&[r("frr", 1.0), r("gobgp", 4.0)]);
        assert!(out.contains("ratio gobgp / frr"), "{out}");
        assert!(out.contains("time x4.00"), "{out}");
        assert!(out.contains("routes/s x0.250"), "{out}");
        assert_eq!(ratio(1.0, 219.0), "0.00457");
        assert_eq!(ratio(219.0, 1.0), "219");
    }
}
