//! The fabric's own checks: parsers, and a hand-made VXLAN fabric (no control plane).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use std::time::Duration;

#[test]
fn underlay_addresses() {
    assert_eq!(UnderlayFamily::Ipv4.address(3).to_string(), "198.18.0.3");
    assert_eq!(
        UnderlayFamily::Ipv6
            .address(ROUTE_REFLECTOR_INDEX)
            .to_string(),
        "2001:db8::fe"
    );
    assert_eq!(
        socket_text(UnderlayFamily::Ipv6.address(1), 179),
        "[2001:db8::1]:179"
    );
    assert_eq!(router_id(254).to_string(), "198.19.0.254");
}

#[test]
fn parses_fdb_rows() {
    let json = r#"[{"mac":"02:00:00:00:00:01","flags":["extern_learn"],"master":"br9","state":""},
        {"mac":"02:00:00:00:00:01","dst":"198.18.0.2","flags":["self","extern_learn"],"state":"permanent"},
        {"mac":"00:00:00:00:00:00","dst":"2001:db8::2","flags":["self"],"state":"permanent"}]"#;
    let rows = parse_fdb(json, Some("vx9")).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].master.as_deref(), Some("br9"));
    assert!(!rows[0].is_self() && rows[0].has_flag("extern_learn"));
    assert_eq!(rows[1].dst, Some("198.18.0.2".parse().unwrap()));
    assert!(rows[1].is_self() && !rows[1].is_flood());
    assert!(rows[2].is_flood());
    assert!(rows.iter().all(|r| r.dev == "vx9"));
    assert!(parse_fdb("", None).unwrap().is_empty());
    assert!(parse_fdb("{", None).is_err());
}

#[test]
fn parses_neighbor_rows() {
    let json = r#"[{"dst":"192.0.2.5","dev":"br9","lladdr":"02:00:00:00:00:01","flags":["extern_learn"],"state":["NOARP"]}]"#;
    let rows = parse_neighbors(json, None).unwrap();
    assert_eq!(rows[0].ip.to_string(), "192.0.2.5");
    assert_eq!(rows[0].dev, "br9");
    assert_eq!(rows[0].mac.as_deref(), Some("02:00:00:00:00:01"));
    assert_eq!(rows[0].states, ["NOARP"]);
}

#[test]
fn parses_ping_summaries() {
    let s = parse_ping_summary(
        "PING x\n\n--- 192.0.2.12 ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss, time 2003ms\n",
    )
    .unwrap();
    assert_eq!((s.transmitted, s.received, s.lost()), (3, 2, 1));
    let s = parse_ping_summary(
        "5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 4ms",
    )
    .unwrap();
    assert_eq!((s.transmitted, s.received), (5, 0));
    assert!(parse_ping_summary("connect: Network is unreachable").is_err());
}

#[test]
fn parses_icmp_counters() {
    let snmp = "Ip: Forwarding\nIp: 1\nIcmpMsg: InType0 InType8 OutType0\nIcmpMsg: 3 40 2\n";
    assert_eq!(parse_icmp_in_echo(snmp).unwrap(), 40);
    assert_eq!(
        parse_icmp_in_echo("IcmpMsg: InType0\nIcmpMsg: 3\n").unwrap(),
        0
    );
    assert_eq!(parse_icmp_in_echo("Ip: 1\n").unwrap(), 0);
}

#[test]
fn ping_arguments() {
    let mut o = PingOptions::new(3, Duration::from_millis(10), Duration::from_secs(2));
    assert_eq!(
        o.args("192.0.2.1".parse().unwrap()).join(" "),
        "ping -n -q -c 3 -i 0.010 -w 2 192.0.2.1"
    );
    o.broadcast = true;
    assert!(o
        .args("192.0.2.255".parse().unwrap())
        .join(" ")
        .ends_with("-i 0.010 -b -W 1 192.0.2.255"));
}

/// Plugs `port` into a hand-made VNI 100 on `node`: `br100` with `vx100` (local = the
/// node's VTEP, flooding to `peers`), which is what a control plane would set up.
fn static_vni(node: &FabricNode, peers: &[IpAddr], port: &str) {
    let ns = node.ns();
    let local = node.underlay().to_string();
    ns.ip(&["link", "add", "br100", "type", "bridge"]).unwrap();
    ns.ip(&[
        "link",
        "add",
        "vx100",
        "type",
        "vxlan",
        "id",
        "100",
        "local",
        &local,
        "dstport",
        "4789",
        "nolearning",
    ])
    .unwrap();
    ns.ip(&["link", "set", "vx100", "master", "br100", "up"])
        .unwrap();
    ns.ip(&["link", "set", "br100", "up"]).unwrap();
    for p in peers {
        ns.exec(&[
            "bridge",
            "fdb",
            "append",
            "00:00:00:00:00:00",
            "dev",
            "vx100",
            "dst",
            &p.to_string(),
            "self",
            "permanent",
        ])
        .unwrap();
    }
    ns.ip(&["link", "set", port, "master", "br100"]).unwrap();
}

/// The fabric forwards between tenants over a hand-made VXLAN (both underlay families),
/// reads the FDB back, reports changes through the monitor, counts packets and moves a
/// tenant; every namespace is gone after the drop.
#[test]
fn static_vxlan_fabric_forwards_and_moves() {
    if !crate::require_root_and_tools(&["ip", "bridge", "ping", "sysctl"]) {
        return;
    }
    for family in [UnderlayFamily::Ipv4, UnderlayFamily::Ipv6] {
        let mut f = Fabric::new(&FabricOptions {
            hosts: 2,
            underlay: family,
            route_reflector: true,
            name_prefix: None,
        })
        .unwrap();
        assert!(f.route_reflector().is_some());
        f.add_tenant(&TenantSpec::new(
            "a",
            0,
            100,
            "02:00:00:01:01:01",
            "192.0.2.11/24",
            "t1v100",
        ))
        .unwrap();
        f.add_tenant(&TenantSpec::new(
            "b",
            1,
            100,
            "02:00:00:01:02:01",
            "192.0.2.12/24",
            "t2v100",
        ))
        .unwrap();
        let (h1, h2) = (f.host(0).unwrap(), f.host(1).unwrap());
        let monitor = FdbMonitor::start(h2.ns()).unwrap();
        static_vni(h1, &[h2.underlay()], "t1v100");
        static_vni(h2, &[h1.underlay()], "t2v100");
        let flood = h1.vxlan_fdb("vx100").unwrap();
        assert_eq!(flood.len(), 1, "{flood:?}");
        assert!(flood[0].is_flood() && flood[0].dst == Some(h2.underlay()));
        monitor
            .wait_for(Duration::from_secs(5), |l| {
                l.contains("00:00:00:00:00:00") && l.contains(&h1.underlay().to_string())
            })
            .unwrap();
        let (a, b) = (f.tenant("a").unwrap(), f.tenant("b").unwrap());
        let rx_before = b.rx_packets().unwrap();
        let echo_before = b.echo_requests_received().unwrap();
        let opts = PingOptions::new(3, Duration::from_millis(20), Duration::from_secs(5));
        let st = a.ping(b.ip(), &opts).unwrap();
        assert_eq!(st.received, 3, "{family:?}: {st:?}");
        assert!(b.rx_packets().unwrap() >= rx_before + 3);
        assert_eq!(b.echo_requests_received().unwrap(), echo_before + 3);
        // The bridge learned a's MAC behind the VXLAN port of host 2.
        let learned = h2.fdb(Some("vx100")).unwrap();
        assert!(
            learned
                .iter()
                .any(|e| e.mac == a.mac() && e.master.is_some()),
            "{learned:?}"
        );
        // a moves to host 2 and talks to b locally.
        f.move_tenant("a", 1).unwrap();
        let h2 = f.host(1).unwrap();
        assert!(h2.has_link("t1v100") && !f.host(0).unwrap().has_link("t1v100"));
        h2.ns()
            .ip(&["link", "set", "t1v100", "master", "br100"])
            .unwrap();
        let (a, b) = (f.tenant("a").unwrap(), f.tenant("b").unwrap());
        assert_eq!(a.host(), 1);
        a.announce().unwrap();
        let st = a.ping(b.ip(), &opts).unwrap();
        assert_eq!(st.received, 3, "{family:?} after the move: {st:?}");
        let run = b
            .ping_in_background(
                a.ip(),
                &PingOptions::new(5, Duration::from_millis(10), Duration::from_secs(3)),
            )
            .unwrap();
        assert_eq!(run.finish().unwrap().received, 5);
        let names = f.namespace_names();
        assert_eq!(names.len(), 6);
        drop(monitor);
        drop(f);
        assert!(names.iter().all(|n| !Netns::exists(n)), "{names:?}");
    }
}

/// A hand-made tenant VRF (what evpnd's namespace-per-VRF model builds): two gateway bridges
/// with the anycast addresses in host 1's VRF namespace, routing between two dual-stack
/// tenants; the VRF readers see the bridges, connected routes and neighbours; a tenant whose
/// port sits in the VRF namespace moves to host 2; a peer node joins the underlay; every
/// namespace, VRF ones included, is gone after the drop.
#[test]
fn hand_made_vrf_namespace_routes_dual_stack_tenants() {
    if !crate::require_root_and_tools(&["ip", "bridge", "ping", "sysctl"]) {
        return;
    }
    let mut f = Fabric::new(&FabricOptions::new(2)).unwrap();
    let red = f.add_vrf(0, "red").unwrap().name().to_string();
    assert!(red.ends_with("-red") && red.starts_with(f.host(0).unwrap().ns().name()));
    f.add_vrf(1, "red").unwrap();
    assert!(f.add_vrf(1, "red").is_err());
    for vni in [100, 200] {
        f.add_tenant(&l3::routed_tenant_spec(0, vni).unwrap())
            .unwrap();
    }
    let gw_mac = "00:00:5e:00:01:01";
    {
        let h1 = f.host(0).unwrap();
        let vrf = h1.vrf_ns("red").unwrap();
        vrf.exec(&[
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ])
        .unwrap();
        for vni in [100u32, 200] {
            let s = l3::routed_subnet(vni).unwrap();
            let br = format!("br{vni}");
            let port = format!("t1v{vni}");
            vrf.ip(&["link", "add", &br, "type", "bridge"]).unwrap();
            vrf.ip(&["link", "set", &br, "address", gw_mac]).unwrap();
            for cidr in s.gateway_cidrs() {
                vrf.ip(&["addr", "add", &cidr, "dev", &br, "nodad"])
                    .unwrap();
            }
            vrf.ip(&["link", "set", &br, "up"]).unwrap();
            h1.ns()
                .ip(&["link", "set", &port, "netns", vrf.name()])
                .unwrap();
            vrf.ip(&["link", "set", &port, "master", &br, "up"])
                .unwrap();
        }
    }
    let cases: Vec<l3::PingCase> = [
        l3::PingCase::tenants(&f, "t1v100", "t1v200", true).unwrap(),
        l3::PingCase::tenants(&f, "t1v200", "t1v100", true).unwrap(),
        vec![l3::PingCase::isolated(
            "t1v100",
            "203.0.113.1".parse().unwrap(),
            "nowhere",
        )],
    ]
    .concat();
    assert_eq!(cases.len(), 5);
    let m = l3::ping_matrix(&f, &cases, Duration::from_secs(10), 3);
    assert!(m.failures().is_empty(), "{m}");

    let h1 = f.host(0).unwrap();
    let links = h1.vrf_links("red").unwrap();
    let br200 = links.iter().find(|l| l.name == "br200").unwrap();
    assert_eq!(br200.kind.as_deref(), Some("bridge"));
    assert_eq!(br200.mac.as_deref(), Some(gw_mac));
    assert!(br200.has_address("2001:db8:200::1".parse().unwrap()));
    let port = links.iter().find(|l| l.name == "t1v200").unwrap();
    assert_eq!(port.master.as_deref(), Some("br200"));
    let t200 = f.tenant("t1v200").unwrap();
    for ip in t200.addresses() {
        let r = h1.vrf_routes_to("red", ip).unwrap();
        assert_eq!(r[0].dev.as_deref(), Some("br200"), "{ip}: {r:?}");
        let n = h1.vrf_neighbors("red", Some("br200")).unwrap();
        assert!(
            n.iter()
                .any(|e| e.ip == ip && e.mac.as_deref() == Some(t200.mac())),
            "{n:?}"
        );
    }
    let fdb = h1.vrf_fdb("red", Some("t1v200")).unwrap();
    assert!(fdb.iter().any(|e| e.mac == t200.mac()), "{fdb:?}");
    let t100 = f.tenant("t1v100").unwrap();
    for gw in t100.gateways() {
        let n = t100.neighbor(*gw).unwrap().unwrap();
        assert_eq!(n.mac.as_deref(), Some(gw_mac), "{n:?}");
    }
    t200.add_routed_address("203.0.113.1/24").unwrap();

    // The port leaves the VRF namespace for host 2.
    f.move_tenant("t1v100", 1).unwrap();
    assert!(f.host(1).unwrap().has_link("t1v100"));
    assert!(f
        .host(0)
        .unwrap()
        .vrf_links("red")
        .unwrap()
        .iter()
        .all(|l| l.name != "t1v100"));

    let peer = f.add_peer(200).unwrap();
    assert_eq!(peer.underlay().to_string(), "198.18.0.200");
    assert!(f.add_peer(200).is_err() && f.add_peer(2).is_err());
    let names = f.namespace_names();
    assert_eq!(names.len(), 1 + 2 + 1 + 1 + 2 + 2, "{names:?}");
    drop(f);
    assert!(names.iter().all(|n| !Netns::exists(n)), "{names:?}");
}
