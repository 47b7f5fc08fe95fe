//! Two or three real evpnd processes on 127.0.0.x exchange, withdraw and re-learn EVPN routes
//! over real BGP sessions (issue #3: loopback integration).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{free_port, wait_until, Daemon};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A daemon config: `me` = (ip, port, asn, router id), neighbours = (ip, port, asn, extra).
fn config(
    me: (&str, u16, u32, &str),
    neighbors: &[(&str, u16, u32, &str)],
    routes: &str,
) -> String {
    let mut s = format!(
        "asn = {}\nrouter-id = \"{}\"\n[bgp]\nlisten = \"{}:{}\"\nhold-time = 9\nconnect-retry = 0.2\n",
        me.2, me.3, me.0, me.1
    );
    for (ip, port, asn, extra) in neighbors {
        s.push_str(&format!(
            "[[neighbor]]\naddress = \"{ip}\"\nremote-asn = {asn}\nport = {port}\nlocal-address = \"{}\"\n{extra}\n",
            me.0
        ));
    }
    s.push_str(routes);
    s
}

fn mac_route(rd: &str, mac: &str, ip: &str) -> String {
    format!(
        "[[static-route]]\ntype = \"mac-ip\"\nrd = \"{rd}\"\nroute-targets = [\"65000:100\"]\nvni = 100\nmac = \"{mac}\"\nip = \"{ip}\"\n"
    )
}

fn has_mac(d: &Daemon, mac: &str) -> bool {
    d.evpn_routes()
        .iter()
        .any(|r| r.evpn.as_ref().is_some_and(|e| e.mac == mac))
}

#[test]
fn two_daemons_exchange_withdraw_and_relearn_routes() {
    let (pa, pb) = (free_port("127.0.0.1"), free_port("127.0.0.2"));
    let a_cfg = config(
        ("127.0.0.1", pa, 65001, "198.19.0.1"),
        &[("127.0.0.2", pb, 65002, "")],
        &mac_route("198.19.0.1:100", "02:00:00:00:00:01", "192.0.2.1"),
    );
    let b_cfg = config(
        ("127.0.0.2", pb, 65002, "198.19.0.2"),
        &[("127.0.0.1", pa, 65001, "")],
        &mac_route("198.19.0.2:100", "02:00:00:00:00:02", "192.0.2.2"),
    );
    let mut a = Daemon::start("a", &a_cfg);
    let b = Daemon::start("b", &b_cfg);
    wait_until(WAIT, || a.all_established() && b.all_established())
        .unwrap_or_else(|e| panic!("{e}\nA:\n{}\nB:\n{}", a.log_text(), b.log_text()));
    wait_until(WAIT, || {
        has_mac(&b, "02:00:00:00:00:01") && has_mac(&a, "02:00:00:00:00:02")
    })
    .unwrap_or_else(|e| panic!("{e}: routes not exchanged"));

    // Every field of A's route as B holds it.
    let routes = b.evpn_routes();
    let r = routes
        .iter()
        .find(|r| {
            r.evpn
                .as_ref()
                .is_some_and(|e| e.mac == "02:00:00:00:00:01")
        })
        .unwrap();
    let e = r.evpn.as_ref().unwrap();
    assert_eq!(
        (e.route_type, e.rd.as_str(), e.ip.as_str(), e.vni),
        (2, "198.19.0.1:100", "192.0.2.1", 100)
    );
    let best = r.paths.iter().find(|p| p.best).unwrap();
    assert_eq!(best.next_hop, "198.19.0.1", "EVPN next hop is A's VTEP");
    assert_eq!(best.as_path, vec![65001]);
    assert!(best
        .extended_communities
        .iter()
        .any(|c| c.contains("65000:100")));
    assert!(best
        .extended_communities
        .iter()
        .any(|c| c.contains("vxlan")));
    let n = b.neighbors();
    let evpn = n[0]
        .counters
        .iter()
        .find(|c| c.family == "l2vpn-evpn")
        .unwrap();
    assert_eq!(evpn.accepted, 1);

    // A stops (Cease sent): B withdraws A's route.
    a.kill(libc::SIGTERM);
    wait_until(WAIT, || !has_mac(&b, "02:00:00:00:00:01"))
        .expect("B keeps a route of a stopped peer");
    let n = b.neighbors();
    let rcvd = n[0]
        .last_notification_received
        .as_ref()
        .expect("B saw A's Cease");
    assert_eq!(rcvd.code, 6);

    // A comes back: the route is learned again.
    a.spawn();
    wait_until(WAIT, || has_mac(&b, "02:00:00:00:00:01"))
        .expect("route not re-learned after restart");
}

#[test]
fn hold_timer_expiry_drops_the_session_and_its_routes() {
    let (pa, pb) = (free_port("127.0.0.3"), free_port("127.0.0.4"));
    let a = Daemon::start(
        "hold-a",
        &config(
            ("127.0.0.3", pa, 65001, "198.19.0.3"),
            &[("127.0.0.4", pb, 65002, "")],
            &mac_route("198.19.0.3:100", "02:00:00:00:00:03", "192.0.2.3"),
        ),
    );
    let b = Daemon::start(
        "hold-b",
        &config(
            ("127.0.0.4", pb, 65002, "198.19.0.4"),
            &[("127.0.0.3", pa, 65001, "")],
            "",
        ),
    );
    wait_until(WAIT, || has_mac(&b, "02:00:00:00:00:03")).expect("route not learned");
    // Freeze A: it stops sending KEEPALIVEs; B's 9 s hold timer must expire.
    a.signal(libc::SIGSTOP);
    wait_until(Duration::from_secs(20), || {
        b.neighbors()[0]
            .last_notification_sent
            .as_ref()
            .is_some_and(|n| (n.code, n.subcode) == (4, 0))
    })
    .unwrap_or_else(|e| panic!("{e}: no Hold Timer Expired\n{}", b.log_text()));
    assert!(
        !has_mac(&b, "02:00:00:00:00:03"),
        "routes of an expired peer must go"
    );
    a.signal(libc::SIGCONT);
}

#[test]
fn graceful_restart_keeps_routes_until_end_of_rib() {
    let (pa, pb) = (free_port("127.0.0.5"), free_port("127.0.0.6"));
    let gr = "graceful-restart = true\nrestart-time = 30";
    let mut a = Daemon::start(
        "gr-a",
        &config(
            ("127.0.0.5", pa, 65001, "198.19.0.5"),
            &[("127.0.0.6", pb, 65002, gr)],
            &mac_route("198.19.0.5:100", "02:00:00:00:00:05", "192.0.2.5"),
        ),
    );
    let b = Daemon::start(
        "gr-b",
        &config(
            ("127.0.0.6", pb, 65002, "198.19.0.6"),
            &[("127.0.0.5", pa, 65001, gr)],
            "",
        ),
    );
    wait_until(WAIT, || has_mac(&b, "02:00:00:00:00:05")).expect("route not learned");
    // A dies without a NOTIFICATION: B keeps its routes as stale.
    a.kill(libc::SIGKILL);
    wait_until(WAIT, || b.neighbors()[0].state != "Established").expect("B did not notice");
    std::thread::sleep(Duration::from_millis(500));
    let stale = b.evpn_routes();
    let r = stale
        .iter()
        .find(|r| {
            r.evpn
                .as_ref()
                .is_some_and(|e| e.mac == "02:00:00:00:00:05")
        })
        .expect("GR helper must keep the restarting peer's routes");
    assert!(
        r.paths.iter().any(|p| p.stale),
        "kept route must be marked stale"
    );
    // A restarts: after its End-of-RIB the route is fresh again.
    a.spawn();
    wait_until(WAIT, || {
        b.evpn_routes().iter().any(|r| {
            r.evpn
                .as_ref()
                .is_some_and(|e| e.mac == "02:00:00:00:00:05")
                && r.paths.iter().all(|p| !p.stale)
        })
    })
    .expect("route not refreshed after restart");
}

fn rt_route(rd: &str, rt: &str, mac: &str) -> String {
    format!(
        "[[static-route]]\ntype = \"mac-ip\"\nrd = \"{rd}\"\nroute-targets = [\"{rt}\"]\nvni = 100\nmac = \"{mac}\"\n"
    )
}

/// RT-Constraint (RFC 4684): a peer that negotiates the RTC family and asks for one route
/// target receives only the EVPN routes carrying it; a peer without RTC receives everything.
#[test]
fn rt_constraint_sends_only_the_requested_route_targets() {
    let (pa, pb, pc) = (
        free_port("127.0.0.10"),
        free_port("127.0.0.11"),
        free_port("127.0.0.12"),
    );
    let rtc = "families = [\"l2vpn-evpn\", \"ipv4-rtc\"]";
    let routes = format!(
        "{}{}",
        rt_route("198.19.0.10:100", "65000:100", "02:00:00:00:01:00"),
        rt_route("198.19.0.10:200", "65000:200", "02:00:00:00:02:00")
    );
    let _a = Daemon::start(
        "rtc-a",
        &config(
            ("127.0.0.10", pa, 65001, "198.19.0.10"),
            &[
                ("127.0.0.11", pb, 65002, rtc),
                ("127.0.0.12", pc, 65003, ""),
            ],
            &routes,
        ),
    );
    let b_cfg = config(
        ("127.0.0.11", pb, 65002, "198.19.0.11"),
        &[("127.0.0.10", pa, 65001, rtc)],
        "",
    )
    .replace("[bgp]\n", "[bgp]\nimport-route-targets = [\"65000:100\"]\n");
    let b = Daemon::start("rtc-b", &b_cfg);
    let c = Daemon::start(
        "rtc-c",
        &config(
            ("127.0.0.12", pc, 65003, "198.19.0.12"),
            &[("127.0.0.10", pa, 65001, "")],
            "",
        ),
    );
    // The control: without RTC, C gets both routes.
    wait_until(WAIT, || {
        has_mac(&c, "02:00:00:00:01:00") && has_mac(&c, "02:00:00:00:02:00")
    })
    .expect("a peer without RTC must receive every route");
    wait_until(WAIT, || has_mac(&b, "02:00:00:00:01:00"))
        .expect("B did not get the route it imports");
    // Give A time to (wrongly) send the other one, then check it never came.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !has_mac(&b, "02:00:00:00:02:00"),
        "B received a route target it did not ask for"
    );
    let n = b.neighbors();
    assert!(
        n[0].families.iter().any(|f| f == "ipv4-rtc"),
        "RTC not negotiated: {:?}",
        n[0].families
    );
}

/// Max-prefix (RFC 4486 §4): a peer that sends more EVPN routes than allowed gets Cease /
/// Maximum Number of Prefixes Reached with AFI, SAFI and the limit as data, and the session
/// comes back after max-prefix-restart. Both sides also run GTSM (RFC 5082), which loopback
/// traffic (TTL 255) passes.
#[test]
fn max_prefix_closes_the_session_with_cease_and_restarts() {
    let (pa, pb) = (free_port("127.0.0.13"), free_port("127.0.0.14"));
    let gtsm = "ttl-security = 1";
    let routes = format!(
        "{}{}",
        mac_route("198.19.0.13:100", "02:00:00:00:0d:01", "192.0.2.13"),
        mac_route("198.19.0.13:100", "02:00:00:00:0d:02", "192.0.2.14")
    );
    let _a = Daemon::start(
        "maxpfx-a",
        &config(
            ("127.0.0.13", pa, 65001, "198.19.0.13"),
            &[("127.0.0.14", pb, 65002, gtsm)],
            &routes,
        ),
    );
    let limited = format!("{gtsm}\nmax-prefix = 1\nmax-prefix-restart = 1");
    let b = Daemon::start(
        "maxpfx-b",
        &config(
            ("127.0.0.14", pb, 65002, "198.19.0.14"),
            &[("127.0.0.13", pa, 65001, &limited)],
            "",
        ),
    );
    wait_until(WAIT, || {
        b.neighbors()[0]
            .last_notification_sent
            .as_ref()
            .is_some_and(|n| (n.code, n.subcode) == (6, 1))
    })
    .unwrap_or_else(|e| panic!("{e}: no Cease/Maximum Number of Prefixes\n{}", b.log_text()));
    let n = b.neighbors()[0].last_notification_sent.clone().unwrap();
    // AFI 25, SAFI 70, limit 1 (RFC 4486 §4).
    assert_eq!(n.data, vec![0, 25, 70, 0, 0, 0, 1]);
    // After the restart interval the session is tried again (and trips again).
    wait_until(WAIT, || b.neighbors()[0].established_count >= 2).unwrap_or_else(|e| {
        panic!(
            "{e}: no re-establishment after max-prefix-restart\n{}",
            b.log_text()
        )
    });
}

/// Route refresh out (RFC 2918): the API's RefreshNeighbor makes the neighbour send its routes
/// again, which shows in the "received" counter; a request for an unknown neighbour fails.
#[test]
fn refresh_neighbor_makes_the_peer_resend_its_routes() {
    let (pa, pb) = (free_port("127.0.0.15"), free_port("127.0.0.16"));
    let _a = Daemon::start(
        "refresh-a",
        &config(
            ("127.0.0.15", pa, 65001, "198.19.0.15"),
            &[("127.0.0.16", pb, 65002, "")],
            &mac_route("198.19.0.15:100", "02:00:00:00:0f:01", "192.0.2.15"),
        ),
    );
    let b = Daemon::start(
        "refresh-b",
        &config(
            ("127.0.0.16", pb, 65002, "198.19.0.16"),
            &[("127.0.0.15", pa, 65001, "")],
            "",
        ),
    );
    let received = |d: &Daemon| {
        d.neighbors()[0]
            .counters
            .iter()
            .find(|c| c.family == "l2vpn-evpn")
            .map_or(0, |c| c.received)
    };
    wait_until(WAIT, || received(&b) == 1).expect("route not received once");
    let api = b.api.clone();
    let refresh = |addr: &str| {
        let addr = addr.to_string();
        let api = api.clone();
        common::rt().block_on(async move {
            let mut c = common::connect(&api).await.unwrap();
            c.refresh_neighbor(evpnd_api::v1::RefreshNeighborRequest {
                address: addr,
                family: String::new(),
            })
            .await
        })
    };
    let r = refresh("127.0.0.15").expect("refresh refused").into_inner();
    assert_eq!(r.families, vec!["l2vpn-evpn".to_string()]);
    wait_until(WAIT, || received(&b) == 2)
        .expect("the neighbour did not re-send after ROUTE-REFRESH");
    assert!(has_mac(&b, "02:00:00:00:0f:01"));
    let e = refresh("127.0.0.99").expect_err("refresh of an unknown neighbour accepted");
    assert_eq!(e.code(), tonic::Code::NotFound);
}
