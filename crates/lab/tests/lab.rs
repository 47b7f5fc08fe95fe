//! The lab works with real components: namespaces, FRR, GoBGP, ExaBGP, our raw speaker,
//! tshark, and the benchmark harness end to end. Needs root and the Debian packages in
//! crates/lab/DEBIAN-PACKAGES; skips without them, fails under CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evpnd_lab::bench::{self, BenchOptions, FrrDut, GobgpDut, Scenario};
use evpnd_lab::capture::{bgp_message_types, tshark_fields};
use evpnd_lab::routes::{generate, origination, RouteKind};
use evpnd_lab::speaker::{Session, SpeakerConfig};
use evpnd_lab::{
    require_root_and_tools, tshark_errors, wait_until, Capture, EvpnMacAdv, EvpnMulticast,
    EvpnPrefix, Exabgp, Frr, Gobgp, Lab, Netns, TempDir,
};
use evpnd_wire::{EvpnRoute, Family, Route};
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

/// Lab tests share port 179 only inside their own namespaces, but FRR/GoBGP start-up is CPU
/// bound on a 2-core machine: run them one at a time for stable timings.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const FRR_TOOLS: &[&str] = &["ip", "/usr/lib/frr/bgpd", "vtysh"];

fn frr_ebgp_conf() -> String {
    "hostname h1\n!\nrouter bgp 65001\n bgp router-id 198.19.0.1\n no bgp default ipv4-unicast\n \
     no bgp ebgp-requires-policy\n neighbor 198.18.0.2 remote-as 65002\n \
     neighbor 198.18.0.2 timers connect 1\n address-family l2vpn evpn\n  \
     neighbor 198.18.0.2 activate\n exit-address-family\n!\n"
        .to_string()
}

fn gobgp_ebgp_conf() -> String {
    r#"[global.config]
  as = 65002
  router-id = "198.19.0.2"
  local-address-list = ["198.18.0.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
"#
    .to_string()
}

/// Every object key anywhere in `v` (FRR keys EVPN routes by their printed prefix).
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

/// The FRR route entry whose key contains `needle`.
fn frr_route<'a>(v: &'a Value, needle: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            if k.contains(needle) {
                Some(x)
            } else {
                frr_route(x, needle)
            }
        }),
        _ => None,
    }
}

#[test]
fn namespaces_are_connected_and_removed() {
    if !require_root_and_tools(&["ip", "ping"]) {
        return;
    }
    let _g = serial();
    let lab = Lab::new(&["a", "b", "c"]).unwrap();
    let names = lab.namespace_names();
    let mut lab = lab;
    lab.connect_lan().unwrap();
    let names_after = lab.namespace_names();
    assert_eq!(names_after.len(), 4, "3 hosts and the bridge namespace");
    assert!(names.iter().all(|n| n.starts_with("evl-")));
    for n in &names_after {
        assert!(Netns::exists(n), "{n}");
    }
    let a = &lab.hosts()[0];
    assert_eq!(a.underlay(), Some(Ipv4Addr::new(198, 18, 0, 1)));
    assert_eq!(a.loopback(), Ipv4Addr::new(198, 19, 0, 1));
    // Underlay and loopback of the third host, through the bridge.
    a.ns()
        .exec(&["ping", "-c", "1", "-W", "2", "198.18.0.3"])
        .unwrap();
    a.ns()
        .exec(&["ping", "-c", "1", "-W", "2", "198.19.0.3"])
        .unwrap();
    // A daemon started in a namespace sees that namespace's addresses only, and is stopped
    // on drop.
    let tmp = TempDir::new("log").unwrap();
    let log = tmp.path().join("listener.log");
    let mut d = lab.hosts()[2]
        .ns()
        .spawn_daemon("sleeper", "sleep", &["30"], &log)
        .unwrap();
    assert!(d.is_running());
    let pid = d.pid();
    drop(d);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || !std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .starts_with("sleep")
    );
    // A namespace really isolates: host c's loopback is not configured in a.
    let addrs = a.ns().ip(&["-4", "addr", "show", "dev", "lo"]).unwrap();
    assert!(addrs.contains("198.19.0.1/32") && !addrs.contains("198.19.0.3"));
    drop(lab);
    for n in &names_after {
        assert!(!Netns::exists(n), "{n} left behind");
    }
}

#[test]
fn frr_and_gobgp_exchange_evpn_routes() {
    if !require_root_and_tools(&[FRR_TOOLS, &["gobgpd", "gobgp", "dumpcap", "tshark"]].concat()) {
        return;
    }
    let _g = serial();
    let mut lab = Lab::new(&["frr", "gobgp"]).unwrap();
    lab.connect_lan().unwrap();
    let names = lab.namespace_names();
    let tmp = TempDir::new("pcap").unwrap();
    let pcap = tmp.path().join("frr-gobgp.pcapng");
    {
        let cap = Capture::start(lab.hosts()[1].ns(), "lan0", &pcap).unwrap();
        let frr = Frr::bgp_only(lab.hosts()[0].ns(), &frr_ebgp_conf()).unwrap();
        let gobgp = Gobgp::start(
            lab.hosts()[1].ns(),
            &gobgp_ebgp_conf(),
            Duration::from_secs(20),
        )
        .unwrap();
        frr.wait_established("198.18.0.2", Duration::from_secs(30))
            .unwrap();
        gobgp
            .wait_established("198.18.0.1", Duration::from_secs(10))
            .unwrap();

        gobgp
            .add_evpn_macadv(&EvpnMacAdv {
                mac: "02:00:00:00:aa:01".into(),
                ip: Some("198.51.100.7".into()),
                etag: 0,
                label: 100,
                rd: "198.19.0.2:100".into(),
                rts: vec!["65000:100".into()],
                nexthop: "198.19.0.2".into(),
            })
            .unwrap();
        gobgp
            .add_evpn_multicast(&EvpnMulticast {
                originator: "198.19.0.2".into(),
                etag: 0,
                rd: "198.19.0.2:100".into(),
                rts: vec!["65000:100".into()],
                vni: 100,
                nexthop: "198.19.0.2".into(),
            })
            .unwrap();
        gobgp
            .add_evpn_prefix(&EvpnPrefix {
                prefix: "203.0.113.0/24".into(),
                gateway: "0.0.0.0".into(),
                etag: 0,
                label: 1000,
                rd: "198.19.0.2:1000".into(),
                rts: vec!["65000:1000".into()],
                router_mac: Some("02:00:00:00:00:02".into()),
                nexthop: "198.19.0.2".into(),
            })
            .unwrap();

        let mut last = Value::Null;
        let seen = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
            last = frr
                .vtysh_json("show bgp l2vpn evpn json")
                .unwrap_or(Value::Null);
            let mut k = Vec::new();
            keys(&last, &mut k);
            k.iter().any(|k| k.contains("02:00:00:00:aa:01"))
                && k.iter().any(|k| k.starts_with("[3]:"))
                && k.iter().any(|k| k.starts_with("[5]:"))
        });
        assert!(seen.is_ok(), "routes not in FRR: {last:#}");
        // The type-2 route keeps GoBGP's VTEP as next hop over eBGP and its IP binding.
        let r = frr_route(&last, "02:00:00:00:aa:01").unwrap();
        let text = r.to_string();
        assert!(text.contains("198.19.0.2"), "next hop: {text}");
        assert!(text.contains("198.51.100.7"), "ip: {text}");
        // FRR's summary counts the three prefixes from GoBGP.
        let sum = frr.vtysh_json("show bgp l2vpn evpn summary json").unwrap();
        assert_eq!(sum["peers"]["198.18.0.2"]["pfxRcd"], 3, "{sum:#}");

        // Withdrawal reaches FRR too.
        gobgp
            .del_evpn_macadv(&EvpnMacAdv {
                mac: "02:00:00:00:aa:01".into(),
                ip: Some("198.51.100.7".into()),
                etag: 0,
                label: 100,
                rd: "198.19.0.2:100".into(),
                rts: vec!["65000:100".into()],
                nexthop: "198.19.0.2".into(),
            })
            .unwrap();
        wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
            frr.vtysh_json("show bgp l2vpn evpn summary json")
                .map(|s| s["peers"]["198.18.0.2"]["pfxRcd"] == 2)
                .unwrap_or(false)
        })
        .unwrap();
        // Let the last packets reach the capture before stopping it.
        std::thread::sleep(Duration::from_millis(300));
        drop(gobgp);
        drop(frr);
        let pcap = cap.stop().unwrap();
        let types = bgp_message_types(&pcap, &[]).unwrap();
        assert!(types.contains(&1) && types.contains(&2), "{types:?}");
        let errors = tshark_errors(&pcap, &[]).unwrap();
        assert!(errors.is_empty(), "tshark flags: {errors:?}");
        // tshark decodes the type-2 route GoBGP sent with the MAC we injected.
        let macs = tshark_fields(
            &pcap,
            &[],
            "bgp.evpn.nlri.rt == 2",
            &["bgp.evpn.nlri.mac_addr"],
        )
        .unwrap();
        assert!(
            macs.iter()
                .flatten()
                .any(|m| m.contains("02:00:00:00:aa:01")),
            "{macs:?}"
        );
    }
    drop(lab);
    for n in &names {
        assert!(!Netns::exists(n), "{n} left behind");
    }
}

/// Our raw speaker (the benchmark's generator) against FRR: routes of every kind arrive with
/// the right count, and tshark decodes every UPDATE we sent without error.
#[test]
fn raw_speaker_feeds_frr_and_tshark_accepts_every_update() {
    if !require_root_and_tools(&[FRR_TOOLS, &["dumpcap", "tshark"]].concat()) {
        return;
    }
    let _g = serial();
    let mut lab = Lab::new(&["frr", "speaker"]).unwrap();
    lab.connect_lan().unwrap();
    let conf = "router bgp 65000\n bgp router-id 198.19.0.1\n no bgp default ipv4-unicast\n \
                neighbor 198.18.0.2 remote-as 65000\n address-family l2vpn evpn\n  \
                neighbor 198.18.0.2 activate\n exit-address-family\n";
    let frr = Frr::bgp_only(lab.hosts()[0].ns(), conf).unwrap();
    let tmp = TempDir::new("pcap").unwrap();
    let pcap = tmp.path().join("speaker.pcapng");
    let cap = Capture::start(lab.hosts()[1].ns(), "lan0", &pcap).unwrap();
    let cfg = SpeakerConfig::evpn(65000, Ipv4Addr::new(198, 19, 0, 2));
    let session = lab.hosts()[1]
        .ns()
        .within(|| {
            Session::connect(
                Some(Ipv4Addr::new(198, 18, 0, 2).into()),
                SocketAddr::from((Ipv4Addr::new(198, 18, 0, 1), 179)),
                &cfg,
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(session.peer_open().asn(), 65000);
    assert!(session.ctx().four_octet_as);
    let vtep = Ipv4Addr::new(198, 19, 0, 2);
    let mut total = 0;
    for (i, kind) in RouteKind::ALL.into_iter().enumerate() {
        let routes = generate(kind, 50, 9 + i as u8, vtep).unwrap();
        let (nh, attrs) = origination(kind, vtep, 65000, session.ctx());
        session
            .announce(Family::L2VPN_EVPN, &nh, &attrs, &routes)
            .unwrap();
        total += routes.len();
    }
    frr.wait_established("198.18.0.2", Duration::from_secs(10))
        .unwrap();
    wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        frr.vtysh_json("show bgp l2vpn evpn summary json")
            .map(|s| s["peers"]["198.18.0.2"]["pfxRcd"] == total)
            .unwrap_or(false)
    })
    .unwrap_or_else(|e| panic!("{e}: {}", frr.bgpd_log(20)));
    let routes_json = frr.vtysh_json("show bgp l2vpn evpn json").unwrap();
    let mut k = Vec::new();
    keys(&routes_json, &mut k);
    for t in ["[2]:", "[3]:", "[5]:"] {
        assert!(k.iter().any(|x| x.starts_with(t)), "no {t} route in FRR");
    }
    session.close();
    std::thread::sleep(Duration::from_millis(300));
    let pcap = cap.stop().unwrap();
    let errors = tshark_errors(&pcap, &[]).unwrap();
    assert!(errors.is_empty(), "tshark flags: {errors:?}");
    // Every route we announced is dissected: 50 of each kind (type 2 in three kinds).
    let type2_kinds = RouteKind::ALL
        .iter()
        .filter(|k| matches!(k, RouteKind::Mac | RouteKind::MacIp | RouteKind::MacIp6))
        .count();
    let rts = tshark_fields(
        &pcap,
        &[],
        "ip.src == 198.18.0.2 && bgp.type == 2",
        &["bgp.evpn.nlri.rt"],
    )
    .unwrap();
    let all: Vec<&str> = rts
        .iter()
        .flatten()
        .flat_map(|c| c.split(','))
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        all.iter().filter(|t| **t == "2").count(),
        50 * type2_kinds,
        "{rts:?}"
    );
    assert_eq!(all.iter().filter(|t| **t == "3").count(), 50);
    assert_eq!(all.iter().filter(|t| **t == "5").count(), 50);
}

/// ExaBGP as an independent decoder: a type-2 route from GoBGP arrives in its JSON.
#[test]
fn exabgp_receives_and_decodes_evpn_from_gobgp() {
    if !require_root_and_tools(&[
        "ip",
        "gobgpd",
        "gobgp",
        "/usr/sbin/exabgp",
        "/usr/bin/python3",
    ]) {
        return;
    }
    let _g = serial();
    let mut lab = Lab::new(&["exabgp", "gobgp"]).unwrap();
    lab.connect_lan().unwrap();
    let conf = Exabgp::receiver_config(
        Ipv4Addr::new(198, 18, 0, 1),
        65001,
        Ipv4Addr::new(198, 18, 0, 2),
        65002,
        Ipv4Addr::new(198, 19, 0, 1),
        &["l2vpn evpn"],
    );
    let exa = Exabgp::start(lab.hosts()[0].ns(), &conf).unwrap();
    let gobgp = Gobgp::start(
        lab.hosts()[1].ns(),
        &gobgp_ebgp_conf(),
        Duration::from_secs(20),
    )
    .unwrap();
    gobgp
        .wait_established("198.18.0.1", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\nexabgp: {}", exa.log(30)));
    gobgp
        .add_evpn_macadv(&EvpnMacAdv {
            mac: "02:00:00:00:bb:02".into(),
            ip: None,
            etag: 0,
            label: 100,
            rd: "198.19.0.2:100".into(),
            rts: vec!["65000:100".into()],
            nexthop: "198.19.0.2".into(),
        })
        .unwrap();
    let found = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        exa.received()
            .iter()
            .any(|m| m.to_string().to_lowercase().contains("02:00:00:00:bb:02"))
    });
    assert!(
        found.is_ok(),
        "ExaBGP got {:?}\nlog: {}",
        exa.received(),
        exa.log(30)
    );
}

/// The benchmark harness end to end on small loads, for both DUT kinds: sessions come up,
/// the sink converges on exactly the generated routes, and memory is measured.
#[test]
fn bench_harness_runs_small_scenarios_on_frr_and_gobgp() {
    if !require_root_and_tools(&[FRR_TOOLS, &["gobgpd", "gobgp"]].concat()) {
        return;
    }
    let _g = serial();
    let opts = BenchOptions {
        kinds: RouteKind::ALL.to_vec(),
        timeout: Duration::from_secs(120),
        settle: Duration::from_millis(1500),
        ..BenchOptions::default()
    };
    let runs = [
        (Scenario::Ingest { routes: 2000 }, 2000, 1),
        (
            Scenario::FanOut {
                routes: 500,
                clients: 3,
            },
            500,
            3,
        ),
        (
            Scenario::ManyPeers {
                peers: 3,
                routes_per_peer: 300,
            },
            900,
            1,
        ),
    ];
    let mut results = Vec::new();
    for (sc, routes, sinks) in runs {
        for dut in [&FrrDut as &dyn bench::DutKind, &GobgpDut] {
            let r = bench::run(dut, &sc, &opts).unwrap_or_else(|e| panic!("{sc:?} {e}"));
            assert_eq!((r.routes, r.sinks), (routes, sinks));
            assert!(r.seconds > 0.0 && r.routes_per_sec > 0.0);
            assert!(r.peak_rss >= r.baseline_rss && r.baseline_rss > 0);
            results.push(r);
        }
    }
    let table = bench::report(&results);
    assert!(table.contains("ratio gobgp / frr"), "{table}");
    // The limit protects GoBGP from quadratic loads unless forced.
    let e = bench::run(&GobgpDut, &Scenario::Ingest { routes: 20_001 }, &opts).unwrap_err();
    assert!(e.0.contains("limited"), "{e}");
}

/// Type-2 routes with an IP decode into the sink's table with every field the generator set.
#[test]
fn generated_route_fields_survive_a_reflection_through_frr() {
    if !require_root_and_tools(FRR_TOOLS) {
        return;
    }
    let _g = serial();
    let mut lab = Lab::new(&["dut", "tester"]).unwrap();
    lab.connect_lan().unwrap();
    let tester = &lab.hosts()[1];
    tester.add_address("lan0", "198.18.0.10/24").unwrap();
    tester.add_address("lan0", "198.18.0.11/24").unwrap();
    let topo = bench::Topology {
        dut_addr: Ipv4Addr::new(198, 18, 0, 1),
        router_id: Ipv4Addr::new(198, 19, 0, 1),
        asn: 65000,
        neighbors: [10, 11]
            .map(|h| bench::Neighbor {
                addr: Ipv4Addr::new(198, 18, 0, h),
                asn: 65000,
                rr_client: true,
            })
            .to_vec(),
    };
    let frr = Frr::bgp_only(lab.hosts()[0].ns(), &FrrDut::config(&topo)).unwrap();
    let (gen, sink) = tester
        .ns()
        .within(|| {
            let connect = |h: u8| {
                Session::connect(
                    Some(Ipv4Addr::new(198, 18, 0, h).into()),
                    SocketAddr::from((Ipv4Addr::new(198, 18, 0, 1), 179)),
                    &SpeakerConfig::evpn(65000, Ipv4Addr::new(198, 18, 0, h)),
                )
            };
            (connect(10), connect(11))
        })
        .unwrap();
    let (gen, sink) = (gen.unwrap(), sink.unwrap());
    let vtep = Ipv4Addr::new(198, 19, 1, 1);
    let routes = generate(RouteKind::MacIp, 10, 1, vtep).unwrap();
    let (nh, attrs) = origination(RouteKind::MacIp, vtep, 65000, gen.ctx());
    gen.announce(Family::L2VPN_EVPN, &nh, &attrs, &routes)
        .unwrap();
    sink.wait_routes(10, Duration::from_secs(20)).unwrap();
    for r in &routes {
        let p = sink.route(r).unwrap();
        // RFC 4456 §8 and FRR's EVPN behaviour: next hop unchanged, ORIGINATOR_ID = the
        // generator's router id, CLUSTER_LIST = the reflector's cluster id.
        assert_eq!(p.next_hop, Some(evpnd_wire::NextHop::Ipv4(vtep)));
        assert_eq!(
            p.attribute(9),
            Some(&evpnd_wire::PathAttribute::OriginatorId(Ipv4Addr::new(
                198, 18, 0, 10
            )))
        );
        assert_eq!(
            p.attribute(10),
            Some(&evpnd_wire::PathAttribute::ClusterList(vec![
                Ipv4Addr::new(198, 19, 0, 1)
            ]))
        );
        let Route::Evpn(EvpnRoute::MacIp(m)) = r.route else {
            panic!()
        };
        assert_eq!(m.label1.vni(), 100);
    }
    drop(frr);
}
