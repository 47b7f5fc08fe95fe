//! Attach latency on a real kernel fabric: an endpoint attached through the API on host 1 →
//! its FDB entry (dst = host 1's VTEP) on every other host, over N attaches (default 1,000).
//!
//! Three evpnd hosts with `[dataplane] kind = "linux"` and an evpnd route reflector in network
//! namespaces (`tests/common/kernel_fabric.rs`, the same fixtures as the end-to-end tests).
//! Each attach is timed from just before the gRPC call (one persistent client) to the moment
//! `bridge monitor fdb` on the *last* of the other hosts prints the new entry. Attaches are
//! sequential: this is latency, not throughput.
//!
//! `cargo bench -p evpnd --bench attach_latency [-- --attaches N]` (root; the namespaces are
//! created and deleted by the run).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::kernel_fabric::{start, HostOptions};
use evpnd_api::v1;
use evpnd_lab::{require_root_and_tools, Fabric, FabricOptions, FdbMonitor};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut attaches = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--attaches" {
            attaches = args.next().and_then(|n| n.parse().ok()).unwrap_or(attaches);
        }
    }
    if !require_root_and_tools(&["ip", "bridge"]) {
        return;
    }
    let fabric = Fabric::new(&FabricOptions::new(3)).expect("fabric");
    let vnis = vec![vec![100], vec![100], vec![100]];
    let o = HostOptions {
        dataplane: "learning = false".into(),
        ..HostOptions::default()
    };
    let r = start(fabric, vnis, &[0, 1, 2], &o, &[]);
    r.wait_sessions();
    let vtep = r.vtep(0).to_string();
    let monitors: Vec<FdbMonitor> = [1, 2]
        .iter()
        .map(|&pos| FdbMonitor::start(r.fabric.host(pos).unwrap().ns()).expect("monitor"))
        .collect();
    let rt = common::rt();
    let api = r.evpnd(0).api.clone();
    let mut client = rt.block_on(common::connect(&api)).expect("API");
    let mut samples = Vec::with_capacity(attaches);
    let started = Instant::now();
    for i in 0..attaches {
        let mac = format!("02:aa:00:00:{:02x}:{:02x}", (i >> 8) & 0xff, i & 0xff);
        let req = v1::AttachEndpointRequest {
            vni: 100,
            mac: mac.clone(),
            ..Default::default()
        };
        let t0 = Instant::now();
        rt.block_on(client.attach_endpoint(req)).expect("attach");
        let mut last = t0;
        for m in &monitors {
            let (at, _) = m
                .wait_for(Duration::from_secs(10), |line| {
                    line.starts_with(&mac) && line.contains(&format!("dst {vtep}"))
                })
                .unwrap_or_else(|e| panic!("attach {i} ({mac}): {e}"));
            last = last.max(at);
        }
        samples.push(last - t0);
    }
    let total = started.elapsed();
    samples.sort();
    println!(
        "attach_latency: {attaches} attaches on host 1 → FDB entry on hosts 2 and 3: \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (total {:.1} s)",
        ms(percentile(&samples, 50)),
        ms(percentile(&samples, 90)),
        ms(percentile(&samples, 99)),
        ms(samples[samples.len() - 1]),
        total.as_secs_f64()
    );
}
