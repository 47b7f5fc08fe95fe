//! The result of a run ([`BenchResult`]) and the comparison table ([`report`]): one row per
//! run, then the ratios of every DUT to the first one that ran the same scenario.

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
