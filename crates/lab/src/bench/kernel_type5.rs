//! The type-5 kernel benchmark (`bgp-bench --scenario kernel-install-type5`, issue 11): how
//! long evpnd takes from the first UPDATE of N type-5 routes (RFC 9136 §3; distinct IPv6 /128
//! prefixes, label = the VRF's L3VNI 1000, RT 65000:100, one remote VTEP 198.19.1.1 with its
//! Router's MAC) until its VRF's namespace holds N routes, beside the raw-netlink floor
//! (`crates/dataplane/examples/route_floor.rs`), which writes N routes and does nothing else.
//!
//! Topology: the kernel benchmark's lab ([`super::kernel`]: `dut` 198.18.0.1, the generator on
//! 198.18.0.10) plus the VRF namespace `<dut namespace>-bench`, created here before evpnd
//! starts (the namespace-per-VRF model; the template names it `netns = "{NETNS}-bench"`).
//! The clock starts as the generator begins writing; a [`RouteWatch`] in the VRF namespace
//! stops it.

use super::kernel::{kernel_lab, KernelLab, KernelOptions, KernelResult};
use super::route_watch::RouteWatch;
use super::run::load_avg;
use super::{DutKind, BENCH_AS};
use crate::error::{LabError, Result};
use crate::fabric::l3::vrf_netns_name;
use crate::fabric::parse_links;
use crate::netns::Netns;
use crate::process::run_output;
use crate::routes::{encode_announcements, vrf_prefixes, RouteKind};
use crate::speaker::{Session, SpeakerConfig, Tracking};
use crate::wait::wait_until;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The VRF of the benchmark (its namespace is `<dut namespace>-bench`).
pub const BENCH_VRF: &str = "bench";

/// The generator's updates: N type-5 routes from VTEP 198.19.1.1 on a session with `ctx`.
fn type5_updates(routes: usize, ctx: &evpnd_wire::CodecContext) -> Result<Vec<u8>> {
    let vtep = Ipv4Addr::new(198, 19, 1, 1);
    let nlri = vrf_prefixes(routes, 1, vtep)?;
    Ok(encode_announcements(ctx, RouteKind::Prefix, &nlri, vtep, BENCH_AS)?.0)
}

/// Runs the type-5 scenario against `dut` (evpnd with `kind = "linux"` and one VRF in the
/// namespace model): N type-5 routes from one generator, clock stopped when the VRF's
/// namespace holds N of them, then checked by a dump. Everything is stopped and every
/// namespace deleted before it returns.
pub fn kernel_install_type5(dut: &dyn DutKind, opts: &KernelOptions) -> Result<KernelResult> {
    for t in dut.tools() {
        if crate::env::tool_path(&t).is_none() {
            return Err(LabError::new(format!("{}: missing tool {t}", dut.name())));
        }
    }
    let KernelLab {
        lab,
        listener,
        gen_addr,
        topo,
    } = kernel_lab()?;
    let dut_host = &lab.hosts()[0];
    let vrf = Netns::named(&vrf_netns_name(dut_host.ns().name(), BENCH_VRF))?;
    let running = dut.start(dut_host.ns(), &topo)?;
    let diag = |e: LabError| e.context(format!("{}: {}", dut.name(), running.diagnostics()));
    let mut cfg = SpeakerConfig::evpn(BENCH_AS, gen_addr);
    cfg.handshake_timeout = opts.session_timeout;
    cfg.tracking = Tracking::Off;
    cfg.peer_as = Some(BENCH_AS);
    let session = Session::accept(&listener, &cfg).map_err(diag)?;
    let bytes = type5_updates(opts.routes, session.ctx())?;
    // evpnd builds the VRF (its L3VNI's VXLAN device) itself: wait (bounded) for it. A
    // backend that builds it with the first route instead is measured with that work.
    let ready = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        vrf.ip(&["-d", "-j", "link", "show"])
            .ok()
            .and_then(|j| parse_links(&j).ok())
            .is_some_and(|l| l.iter().any(|x| x.kind.as_deref() == Some("vxlan")))
    });
    if ready.is_err() {
        eprintln!(
            "  note: no VXLAN device in {} before the load: the VRF's devices are built during it",
            vrf.name()
        );
    }
    std::thread::sleep(opts.settle);
    let watch = RouteWatch::start(&vrf)?;
    if watch.count() != 0 {
        return Err(diag(LabError::new(format!(
            "{} holds {} benchmark routes before the load",
            vrf.name(),
            watch.count()
        ))));
    }
    let load = load_avg();
    let t0 = Instant::now();
    let (sent, fill) = std::thread::scope(|s| -> Result<_> {
        let sender = s.spawn(|| session.send_bytes(&bytes).map(|_| Instant::now()));
        let vital = running.vital_pids();
        let fill = watch.wait_while(opts.routes, opts.timeout, || {
            vital
                .iter()
                .find(|(_, pid)| !crate::process::is_alive(*pid))
                .map(|(name, pid)| format!("{name} (pid {pid}) exited during the load"))
        });
        let sent = sender
            .join()
            .map_err(|_| LabError::new("sender thread panicked"))??;
        Ok((sent, fill?))
    })
    .map_err(diag)?;
    let held = watch.dump_count()?;
    if held != opts.routes {
        return Err(diag(LabError::new(format!(
            "{} holds {held} benchmark routes, expected {}",
            vrf.name(),
            opts.routes
        ))));
    }
    let since = |t: Instant| t.saturating_duration_since(t0).as_secs_f64();
    let result = KernelResult {
        dut: dut.name(),
        routes: opts.routes,
        seconds: since(fill.reached),
        first_entry_seconds: since(fill.first),
        install_seconds: fill.reached.duration_since(fill.first).as_secs_f64(),
        send_seconds: since(sent),
        overrun: fill.overrun,
        load_avg: load,
        own_seconds: running.own_install().map(|(_, secs)| secs),
    };
    drop(watch);
    session.close();
    drop(running);
    drop(vrf);
    drop(lab);
    Ok(result)
}

/// Reads the floor program's JSON line (as `fdb_floor` prints it): its own `seconds`, and
/// `verified` when it reports one (false is an error).
pub fn parse_floor_report(stdout: &[u8]) -> Result<f64> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| LabError::new(format!("floor output has no JSON line: {text:?}")))?;
    let report: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| LabError::new(format!("floor output {line:?}: {e}")))?;
    if report["verified"] == serde_json::Value::Bool(false) {
        return Err(LabError::new(format!(
            "the floor did not verify its routes: {line}"
        )));
    }
    report["seconds"]
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| LabError::new(format!("floor output has no seconds: {line}")))
}

/// The route floor's arguments before the caller's: the generator's IPv6 /128 prefixes
/// through L3VNI 1000's bridge (the benchmark VRF's) via the generator's VTEP 198.19.1.1:
/// the routes evpnd writes.
pub const ROUTE_FLOOR_ARGS: [&str; 6] =
    ["--family", "6", "--l3vni", "1000", "--remote", "198.19.1.1"];

/// The label of the route floor run as evpnd is measured: under a [`RouteWatch`] in its
/// namespace (the kernel delivers each new route's notification to it, as it does to the
/// watcher that clocks evpnd). Its figure is the one the ratio uses.
pub const ROUTE_FLOOR: &str = "route-floor";

/// The label of the route floor run with no watcher (what the ratio used before the watcher
/// was added): kept in the report so both floors are visible.
pub const ROUTE_FLOOR_UNWATCHED: &str = "route-floor-unwatched";

/// Runs the route floor (`route_floor --inside --entries N --family 6 --l3vni 1000 EXTRA…`)
/// in a fresh namespace and names the result `label`: the invocation shape of the FDB floor
/// ([`super::floor`]); the floor creates the L3VNI's devices inside the namespace itself.
/// With `watched`, a [`RouteWatch`] is subscribed in the namespace before the floor starts
/// (the same conditions as evpnd's run: the kernel builds and delivers a notification per
/// route to it), and `install_seconds` is the watcher's first → last route. Its `seconds` is
/// the floor's own figure (first `sendmsg` → last ACK) either way.
pub fn route_floor(
    bin: &Path,
    label: &str,
    routes: usize,
    extra: &[String],
    timeout: Duration,
    watched: bool,
) -> Result<KernelResult> {
    if !bin.exists() {
        return Err(LabError::new(format!(
            "{} does not exist (cargo build --release -p evpnd-dataplane --example route_floor)",
            bin.display()
        )));
    }
    let ns = Netns::new()?;
    let watch = watched.then(|| RouteWatch::start(&ns)).transpose()?;
    let mut cmd = ns.command(&bin.display().to_string());
    cmd.args(["--inside", "--entries", &routes.to_string()])
        .args(ROUTE_FLOOR_ARGS)
        .args(extra);
    let load = load_avg();
    let out = run_output(&mut cmd, timeout)?;
    if !out.status.success() {
        return Err(LabError::new(format!(
            "route_floor failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let seconds = parse_floor_report(&out.stdout)?;
    let (install_seconds, overrun) = match &watch {
        Some(w) => {
            let fill = w.wait(routes, Duration::from_secs(10))?;
            (
                fill.reached.duration_since(fill.first).as_secs_f64(),
                fill.overrun,
            )
        }
        None => (seconds, false),
    };
    drop(watch);
    Ok(KernelResult {
        dut: label.into(),
        routes,
        seconds,
        first_entry_seconds: 0.0,
        install_seconds,
        send_seconds: seconds,
        overrun,
        load_avg: load,
        own_seconds: Some(seconds),
    })
}

/// The type-5 table: every run, then the ratio the issue asks for (target ≥ 0.9): the
/// floor's own time over evpnd's time for the same N routes, i.e. evpnd's install rate as a
/// fraction of the floor's — once for evpnd's install phase (first → last route, what the
/// kernel writing costs) and once end to end (first UPDATE → last route).
pub fn type5_report(results: &[KernelResult]) -> String {
    let mut s = super::kernel_report(results);
    let find = |name: &str| results.iter().find(|r| r.dut == name);
    if let (Some(e), Some(f)) = (find("evpnd"), find(ROUTE_FLOOR)) {
        s.push_str(&format!(
            "type-5 install rate, evpnd / floor (target >= 0.9; both under the route \
             watcher): install phase {:.2} ({:.3} s floor vs {:.3} s evpnd), end to end {:.2} \
             ({:.3} s)\n",
            f.seconds / e.install_seconds.max(1e-9),
            f.seconds,
            e.install_seconds,
            f.seconds / e.seconds.max(1e-9),
            e.seconds,
        ));
        // Same clock for both: the watcher's first -> last route.
        s.push_str(&format!(
            "type-5 kernel install (watcher, first -> last route), floor / evpnd: {:.2} \
             ({:.3} s vs {:.3} s)\n",
            f.install_seconds / e.install_seconds.max(1e-9),
            f.install_seconds,
            e.install_seconds,
        ));
        if let Some(own) = e.own_seconds {
            s.push_str(&format!(
                "type-5, own clocks (time spent writing the same routes): {:.2} ({:.3} s floor \
                 vs {:.3} s evpnd)\n",
                f.seconds / own.max(1e-9),
                f.seconds,
                own,
            ));
        }
    }
    if let (Some(e), Some(u)) = (find("evpnd"), find(ROUTE_FLOOR_UNWATCHED)) {
        s.push_str(&format!(
            "against the floor with no watcher: install phase {:.2} ({:.3} s floor), end to \
             end {:.2}\n",
            u.seconds / e.install_seconds.max(1e-9),
            u.seconds,
            u.seconds / e.seconds.max(1e-9),
        ));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn floor_reports_parse() {
        let out = b"setting up\n{\"mode\":\"batched\",\"entries\":100000,\"seconds\":0.412,\"entries_per_sec\":242718,\"verified\":true}\n";
        assert!((parse_floor_report(out).unwrap() - 0.412).abs() < 1e-9);
        assert!(parse_floor_report(b"{\"seconds\":0.5}").is_ok());
        assert!(parse_floor_report(b"{\"seconds\":0.5,\"verified\":false}").is_err());
        assert!(parse_floor_report(b"{\"entries\":1}").is_err());
        assert!(parse_floor_report(b"no json").is_err());
        assert!(parse_floor_report(b"{\"seconds\":-1}").is_err());
    }

    #[test]
    fn report_gives_the_type5_ratio() {
        let r = |dut: &str, seconds: f64, install: f64| KernelResult {
            dut: dut.into(),
            routes: 100_000,
            seconds,
            first_entry_seconds: 0.0,
            install_seconds: install,
            send_seconds: 0.0,
            overrun: false,
            load_avg: 0.0,
            own_seconds: None,
        };
        let out = type5_report(&[
            r("evpnd", 1.0, 0.5),
            r(ROUTE_FLOOR, 0.45, 0.45),
            r(ROUTE_FLOOR_UNWATCHED, 0.4, 0.4),
        ]);
        assert!(
            out.contains("under the route watcher): install phase 0.90"),
            "{out}"
        );
        assert!(out.contains("end to end 0.45"), "{out}");
        assert!(
            out.contains("(watcher, first -> last route), floor / evpnd: 0.90"),
            "{out}"
        );
        assert!(
            out.contains("no watcher: install phase 0.80 (0.400 s floor)"),
            "{out}"
        );
    }

    #[test]
    fn updates_hold_the_routes() {
        let ctx = evpnd_wire::CodecContext::default();
        let bytes = type5_updates(1000, &ctx).unwrap();
        let (msgs, err) = evpnd_wire::decode_all(&ctx, &bytes);
        assert!(err.is_none(), "{err:?}");
        assert!(!msgs.is_empty());
    }

    /// tshark, the independent oracle, decodes the generator's type-5 UPDATEs (IPv6 prefixes
    /// in IPv4-next-hop EVPN NLRI) without a malformed or expert finding.
    #[test]
    fn tshark_decodes_the_generator_updates() {
        if !crate::require_root_and_tools(&["tshark", "text2pcap"]) {
            return;
        }
        let ctx = evpnd_wire::CodecContext::default();
        let bytes = type5_updates(2000, &ctx).unwrap();
        let mut messages = Vec::new();
        let mut at = 0usize;
        while at + 19 <= bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[at + 16], bytes[at + 17]]));
            messages.push(bytes[at..at + len].to_vec());
            at += len;
        }
        assert_eq!(at, bytes.len());
        let dir = crate::TempDir::new("type5-pcap").unwrap();
        let pcap = dir.path().join("type5.pcap");
        crate::capture::pcap_from_messages(&messages, &pcap).unwrap();
        assert_eq!(
            crate::tshark_errors(&pcap, &[]).unwrap(),
            Vec::<String>::new()
        );
        let rows = crate::capture::tshark_fields(
            &pcap,
            &[],
            "bgp.evpn.nlri.rt == 5",
            &["bgp.evpn.nlri.ipv6.addr"],
        )
        .unwrap();
        let prefixes: usize = rows
            .iter()
            .map(|r| {
                r.first()
                    .map_or(0, |f| f.split(',').filter(|x| !x.is_empty()).count())
            })
            .sum();
        assert_eq!(prefixes, 2000, "{:?}", rows.first());
    }

    #[test]
    fn a_missing_floor_is_named() {
        let e = route_floor(
            Path::new("/nonexistent/route_floor"),
            "route-floor",
            10,
            &[],
            Duration::from_secs(1),
            true,
        )
        .unwrap_err();
        assert!(e.0.contains("route_floor"), "{e}");
    }
}
