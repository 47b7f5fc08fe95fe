//! Observability of a real daemon (issue 10, item 4): `/metrics` scraped over HTTP from two
//! evpnd processes in an iBGP session on loopback (memory data plane), parsed as Prometheus
//! text (every line valid, every family with HELP and TYPE), with the counters and gauges
//! moving as the test drives traffic through the API; and the JSON log format.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::metrics::{http_get, scrape, value, Samples};
use common::{endpoint, free_port, wait_until, Daemon, EvpnApi};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const IPS: [&str; 2] = ["127.0.0.41", "127.0.0.42"];
const VTEPS: [&str; 2] = ["198.19.1.1", "198.19.1.2"];

/// The configuration of node `i` of two, serving metrics on `metrics`.
fn config(i: usize, ports: &[u16], metrics: u16, extra: &str) -> String {
    let j = 1 - i;
    format!(
        "asn = 65000\nrouter-id = \"{vtep}\"\n[bgp]\nlisten = \"{ip}:{port}\"\nhold-time = 9\nconnect-retry = 0.2\n\
         [[neighbor]]\naddress = \"{peer}\"\nremote-asn = 65000\nport = {peer_port}\nlocal-address = \"{ip}\"\n\
         [evpn]\nvtep = \"{vtep}\"\n[[vni]]\nvni = 100\n[dataplane]\nkind = \"memory\"\n\
         [metrics]\nlisten = \"{ip}:{metrics}\"\n{extra}",
        vtep = VTEPS[i],
        ip = IPS[i],
        port = ports[i],
        peer = IPS[j],
        peer_port = ports[j],
    )
}

#[test]
fn metrics_are_served_and_move_with_traffic() {
    let ports: Vec<u16> = IPS.iter().map(|ip| free_port(ip)).collect();
    let mports: Vec<u16> = IPS.iter().map(|ip| free_port(ip)).collect();
    let addr: Vec<String> = (0..2)
        .map(|i| format!("{}:{}", IPS[i], mports[i]))
        .collect();
    let ds: Vec<Daemon> = (0..2)
        .map(|i| Daemon::start(&format!("metrics-{i}"), &config(i, &ports, mports[i], "")))
        .collect();
    wait_until(WAIT, || ds.iter().all(Daemon::all_established))
        .unwrap_or_else(|e| panic!("{e}: the session did not come up"));
    let (status, _) = http_get(&addr[0], "/other");
    assert_eq!(status, 404);
    let b = &addr[1];
    wait_until(WAIT, || {
        value(
            &scrape(b),
            "evpnd_bgp_sessions",
            &[("state", "established")],
        ) == 1.0
    })
    .unwrap();
    let before = scrape(b);
    assert_eq!(
        value(&before, "evpnd_bgp_sessions", &[("state", "idle")]),
        0.0
    );
    assert_eq!(
        value(&before, "evpnd_bgp_session_up", &[("peer", IPS[0])]),
        1.0
    );
    let updates_before = value(
        &before,
        "evpnd_bgp_updates_received_total",
        &[("peer", IPS[0])],
    );
    let remote = |s: &Samples| {
        value(
            s,
            "evpnd_evpn_macs",
            &[("vni", "100"), ("location", "remote")],
        )
    };
    assert_eq!(remote(&before), 0.0);
    assert_eq!(
        value(&before, "evpnd_evpn_flood_vteps", &[("vni", "100")]),
        1.0
    );

    // Two endpoints on A: B's MAC gauge, route gauge and UPDATE counter move.
    ds[0]
        .attach(endpoint(100, "02:00:00:00:07:01", "192.0.2.71"))
        .unwrap();
    ds[0]
        .attach(endpoint(100, "02:00:00:00:07:02", ""))
        .unwrap();
    wait_until(WAIT, || remote(&scrape(b)) == 2.0).unwrap_or_else(|e| {
        panic!(
            "{e}: B's remote MAC gauge did not reach 2:\n{}",
            http_get(b, "/metrics").1
        )
    });
    let after = scrape(b);
    assert!(
        value(
            &after,
            "evpnd_bgp_updates_received_total",
            &[("peer", IPS[0])]
        ) > updates_before
    );
    // Type-2 routes: MAC-only and MAC+IP of the first endpoint, MAC-only of the second.
    let type2 = value(
        &after,
        "evpnd_bgp_routes",
        &[
            ("family", "l2vpn-evpn"),
            ("route_type", "2"),
            ("vni", "100"),
        ],
    );
    assert_eq!(type2, 3.0, "type-2 routes at B");
    assert_eq!(
        value(&after, "evpnd_evpn_arp_nd_entries", &[("vni", "100")]),
        1.0
    );
    let a = scrape(&addr[0]);
    assert_eq!(
        value(
            &a,
            "evpnd_evpn_macs",
            &[("vni", "100"), ("location", "local")]
        ),
        2.0
    );
    assert!(value(&a, "evpnd_bgp_updates_sent_total", &[("peer", IPS[1])]) > 0.0);
    // The memory data plane applied B's intents and timed them.
    assert!(
        value(
            &after,
            "evpnd_dataplane_intents_applied_total",
            &[("kind", "memory")]
        ) >= 3.0
    );
    let latency_count = value(
        &after,
        "evpnd_dataplane_apply_latency_seconds_count",
        &[("kind", "memory")],
    );
    assert!(latency_count >= 1.0);
    assert_eq!(
        value(
            &after,
            "evpnd_dataplane_apply_latency_seconds_bucket",
            &[("kind", "memory"), ("le", "+Inf")]
        ),
        latency_count
    );
    assert_eq!(
        value(
            &after,
            "evpnd_bgp_rfc7606_outcomes_total",
            &[("peer", IPS[0]), ("outcome", "treat-as-withdraw")]
        ),
        0.0
    );

    // A MAC move: the first MAC attached on B too wins there (higher sequence), a move that
    // involves B.
    ds[1]
        .attach(endpoint(100, "02:00:00:00:07:01", ""))
        .unwrap();
    let moves = |s: &Samples| value(s, "evpnd_evpn_mac_moves_total", &[("vni", "100")]);
    wait_until(WAIT, || moves(&scrape(b)) >= 1.0)
        .unwrap_or_else(|e| panic!("{e}: no move counted at B:\n{}", http_get(b, "/metrics").1));
    wait_until(WAIT, || moves(&scrape(&addr[0])) >= 1.0).unwrap();
    let moved = scrape(b);
    assert_eq!(remote(&moved), 1.0);
    assert_eq!(
        value(
            &moved,
            "evpnd_evpn_macs",
            &[("vni", "100"), ("location", "local")]
        ),
        1.0
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let ports = [free_port(IPS[0]), free_port(IPS[1])];
    let m = free_port(IPS[0]);
    let d = Daemon::start(
        "json-log",
        &config(0, &ports, m, "[log]\nformat = \"json\"\nlevel = \"info\"\n"),
    );
    d.attach(endpoint(100, "02:00:00:00:07:09", "")).unwrap();
    wait_until(WAIT, || d.log_text().contains("MAC learned")).unwrap();
    let text = d.log_text();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\nlog:\n{text}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{line}"
        );
        lines += 1;
    }
    assert!(lines >= 2, "{text}");
    assert!(text.contains("\"mac\":\"02:00:00:00:07:09\""), "{text}");
}
