//! `Explain` against real daemons (issue 10, item 3): two evpnd processes in an iBGP session
//! on loopback with the memory data plane. A MAC attached on A, explained on B, walks every
//! link to "complete"; an unknown MAC breaks at "routes" ("no route received"); a route whose
//! route target B does not import breaks at "import" ("route rejected: RT not imported"); an
//! IP walks to its binding. The kernel link with the Linux data plane is in
//! `explain_kernel.rs` (root).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{endpoint, free_port, wait_until, Daemon, EvpnApi};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const IPS: [&str; 2] = ["127.0.0.51", "127.0.0.52"];
const VTEPS: [&str; 2] = ["198.19.2.1", "198.19.2.2"];

/// Node `i`: VNI 100 with default route targets on both; VNI 200 on both, but B imports
/// only 65000:999 there (so A's VNI 200 routes are rejected at B).
fn config(i: usize, ports: &[u16]) -> String {
    let j = 1 - i;
    let vni200 = if i == 1 {
        "[[vni]]\nvni = 200\nimport-route-targets = [\"65000:999\"]\n"
    } else {
        "[[vni]]\nvni = 200\n"
    };
    format!(
        "asn = 65000\nrouter-id = \"{vtep}\"\n[bgp]\nlisten = \"{ip}:{port}\"\nhold-time = 9\nconnect-retry = 0.2\n\
         [[neighbor]]\naddress = \"{peer}\"\nremote-asn = 65000\nport = {peer_port}\nlocal-address = \"{ip}\"\n\
         [evpn]\nvtep = \"{vtep}\"\n[[vni]]\nvni = 100\n{vni200}[dataplane]\nkind = \"memory\"\n",
        vtep = VTEPS[i],
        ip = IPS[i],
        port = ports[i],
        peer = IPS[j],
        peer_port = ports[j],
    )
}

fn links(r: &evpnd_api::v1::ExplainResponse) -> Vec<(String, bool)> {
    r.steps.iter().map(|s| (s.link.clone(), s.ok)).collect()
}

#[test]
fn explain_walks_the_chain_and_names_the_broken_link() {
    let ports = [free_port(IPS[0]), free_port(IPS[1])];
    let a = Daemon::start("explain-a", &config(0, &ports));
    let b = Daemon::start("explain-b", &config(1, &ports));
    wait_until(WAIT, || a.all_established() && b.all_established()).unwrap();
    let mac = "02:00:00:00:08:01";
    a.attach(endpoint(100, mac, "192.0.2.81")).unwrap();
    wait_until(WAIT, || b.explain(100, mac).unwrap().complete).unwrap_or_else(|e| {
        panic!(
            "{e}: not complete: {:#?}\n{}",
            b.explain(100, mac),
            b.log_text()
        )
    });
    let r = b.explain(100, mac).unwrap();
    assert_eq!(
        links(&r),
        [
            "routes",
            "import",
            "decision",
            "intent",
            "dataplane",
            "kernel"
        ]
        .map(|l| (l.to_string(), true))
        .to_vec(),
        "{r:#?}"
    );
    assert_eq!(r.subject, "mac");
    assert_eq!(r.winner, VTEPS[0]);
    assert_eq!(r.decision_code, "only-claim");
    assert_eq!(r.broken_link, "");
    assert_eq!(r.dataplane, "memory");
    // The MAC-only and the MAC+IP routes, each with A's path, imported.
    assert_eq!(r.routes.len(), 2, "{r:#?}");
    for route in &r.routes {
        assert!(route.imported, "{route:?}");
        assert_eq!(route.verdict_code, "imported");
        assert_eq!(route.paths.len(), 1);
        let p = &route.paths[0];
        assert!(p.best);
        assert_eq!(p.peer, IPS[0]);
        assert_eq!(p.next_hop, VTEPS[0]);
        assert_eq!(p.label, 100);
    }
    assert!(r.claims.iter().any(|c| c.winner && c.location == VTEPS[0]));
    assert!(r.intent.contains(VTEPS[0]), "{}", r.intent);
    // On A the MAC is local: complete, with no FDB intent.
    let at_a = a.explain(100, mac).unwrap();
    assert!(at_a.complete, "{at_a:#?}");
    assert_eq!(at_a.winner, "local");
    // The IP: bound to the MAC at A's VTEP.
    let ip = b.explain(100, "192.0.2.81").unwrap();
    assert!(ip.complete, "{ip:#?}");
    assert_eq!(ip.subject, "ip");
    assert_eq!(ip.routes.len(), 1);
    assert!(ip.claims.iter().any(|c| c.winner && c.mac == mac));

    // An unknown MAC: the first link breaks.
    let unknown = b.explain(100, "02:00:00:00:08:99").unwrap();
    assert!(!unknown.complete);
    assert_eq!(unknown.broken_link, "routes");
    assert!(
        unknown.message.contains("no route received"),
        "{}",
        unknown.message
    );
    assert_eq!(unknown.steps.len(), 1);

    // The same through evpnctl: the walk printed, exit 0 when complete and 4 when broken.
    let (code, text) = b.evpnctl_status(&["explain", "mac", mac, "--vni", "100"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("complete"), "{text}");
    let (code, text) = b.evpnctl_status(&["explain", "mac", "02:00:00:00:08:99", "--vni", "100"]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("no route received"), "{text}");
    let (code, json) = b.evpnctl_status(&["explain", "ip", "192.0.2.81", "--vni", "100", "--json"]);
    assert_eq!(code, 0, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["complete"], true, "{json}");
    assert_eq!(json["subject"], "ip");
    // An unknown VNI is refused by the daemon: exit 1.
    let (code, _) = b.evpnctl_status(&["explain", "mac", mac, "--vni", "4242"]);
    assert_eq!(code, 1);

    // A route B's EVI does not import: broken at import, naming the route target.
    let other = "02:00:00:00:08:02";
    a.attach(endpoint(200, other, "")).unwrap();
    wait_until(WAIT, || {
        b.explain(200, other)
            .unwrap()
            .steps
            .first()
            .is_some_and(|s| s.ok)
    })
    .unwrap();
    let rejected = b.explain(200, other).unwrap();
    assert_eq!(rejected.broken_link, "import", "{rejected:#?}");
    assert!(
        rejected.message.contains("route rejected: RT not imported"),
        "{}",
        rejected.message
    );
    assert_eq!(rejected.routes[0].verdict_code, "route-target-not-imported");

    // Bad calls: an unknown VNI is NOT_FOUND, neither MAC nor IP is INVALID_ARGUMENT.
    assert_eq!(
        b.explain(300, mac).unwrap_err().code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        b.explain(100, "").unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
}
