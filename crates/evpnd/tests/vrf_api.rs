//! Tenant VRFs over the API and evpnctl against real evpnd processes on loopback (issue 11,
//! layer 3): VRFs from the file and from `AddVrf` are listed with their L3VNI, RD, route
//! targets, router MAC and VNIs; layer-3 commands are refused with the right gRPC code naming
//! the field; a VRF is refused removal while a VNI names it; the memory data plane holds the
//! VRF and its VNI; VRF routes and the routes of a VRF are listed page by page; an API VRF
//! survives a restart before its VNIs; between two hosts, a remote tenant becomes a host route
//! and advertised prefixes become IP prefix routes of the VRF (the layer-3 engine).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{endpoint, free_port, wait_until, Daemon, EvpnApi};
use evpnd_api::v1;
use std::time::Duration;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(20);
const ASN: u32 = 65000;

/// A daemon with VRF red (L3VNI 5000), VNI 100 in red with two gateways, the bridged VNI
/// 400, the memory data plane, and `neighbors` as (address, port).
fn config(ip: &str, port: u16, vtep: &str, neighbors: &[(&str, u16)]) -> String {
    let mut s = format!(
        "asn = {ASN}\nrouter-id = \"{vtep}\"\n[bgp]\nlisten = \"{ip}:{port}\"\nhold-time = 9\nconnect-retry = 0.2\n"
    );
    for (a, p) in neighbors {
        s.push_str(&format!(
            "[[neighbor]]\naddress = \"{a}\"\nremote-asn = {ASN}\nport = {p}\nlocal-address = \"{ip}\"\n"
        ));
    }
    s.push_str(&format!(
        "[evpn]\nvtep = \"{vtep}\"\n[[vrf]]\nname = \"red\"\nl3vni = 5000\n\
         [[vni]]\nvni = 100\nvrf = \"red\"\ngateway = [\"192.0.2.254/24\", \"2001:db8:100::1/64\"]\n\
         [[vni]]\nvni = 400\n[dataplane]\nkind = \"memory\"\n"
    ));
    s
}

fn vrfs(d: &Daemon, page_size: u32, page_token: String) -> v1::ListVrfsResponse {
    d.call(|mut c| async move {
        c.list_vrfs(v1::ListVrfsRequest {
            page_size,
            page_token,
        })
        .await
    })
    .unwrap()
}

fn add_vrf(d: &Daemon, r: v1::AddVrfRequest) -> Result<v1::AddVrfResponse, tonic::Status> {
    d.call(|mut c| async move { c.add_vrf(r).await })
}

fn remove_vrf(d: &Daemon, name: &str) -> Result<(), tonic::Status> {
    let name = name.to_string();
    d.call(|mut c| async move { c.remove_vrf(v1::RemoveVrfRequest { name }).await })
        .map(|_| ())
}

fn create_vni(d: &Daemon, r: v1::CreateVniRequest) -> Result<(), tonic::Status> {
    d.call(|mut c| async move { c.create_vni(r).await })
        .map(|_| ())
}

fn ip_routes(d: &Daemon, vrf: &str) -> Result<v1::ListIpRoutesResponse, tonic::Status> {
    let vrf = vrf.to_string();
    d.call(|mut c| async move {
        c.list_ip_routes(v1::ListIpRoutesRequest {
            vrf,
            ..Default::default()
        })
        .await
    })
}

fn routes_of_vrf(d: &Daemon, vrf: &str) -> Result<Vec<v1::RibEntry>, tonic::Status> {
    let vrf = vrf.to_string();
    d.call(|mut c| async move {
        c.list_routes(v1::ListRoutesRequest {
            vrf,
            ..Default::default()
        })
        .await
    })
    .map(|r| r.routes)
}

fn dataplane(d: &Daemon) -> v1::ListDataplaneResponse {
    d.call(|mut c| async move { c.list_dataplane(v1::ListDataplaneRequest {}).await })
        .unwrap()
}

/// Asserts `r` failed with `code` and a message starting with `field:`.
fn refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, field: &str) {
    let s = r.expect_err("the call should be refused");
    assert_eq!(s.code(), code, "{s:?}");
    assert!(
        s.message().starts_with(&format!("{field}:")),
        "message should name {field}: {s:?}"
    );
}

#[test]
fn vrfs_are_listed_managed_and_refused_with_the_right_codes() {
    let port = free_port("127.0.0.91");
    let d = Daemon::start("vrf-api", &config("127.0.0.91", port, "198.19.0.91", &[]));

    // The configured VRF with everything derived: RD router-id:L3VNI, RT ASN:L3VNI, router
    // MAC 02:00 + router id.
    let list = vrfs(&d, 0, String::new()).vrfs;
    assert_eq!(list.len(), 1, "{list:?}");
    let red = &list[0];
    assert_eq!((red.name.as_str(), red.l3vni), ("red", 5000));
    assert_eq!(red.rd, "198.19.0.91:5000");
    assert_eq!(red.import_route_targets, vec!["65000:5000".to_string()]);
    assert_eq!(red.export_route_targets, vec!["65000:5000".to_string()]);
    assert_eq!(red.router_mac, "02:00:c6:13:00:5b");
    assert_eq!(red.vnis, vec![100]);
    assert!(red.advertise_connected);

    // The memory data plane holds the VRF with its VNI (the Vrf intent came first).
    let dp = dataplane(&d);
    let v = dp.vrfs.iter().find(|v| v.vrf == "red").expect("red");
    assert_eq!((v.l3vni, v.vnis.clone()), (5000, vec![100]));
    assert_eq!(dp.errors, 0, "every intent fitted the tables");

    // AddVrf: created with its derived values; refusals name the field.
    let blue = add_vrf(
        &d,
        v1::AddVrfRequest {
            name: "blue".into(),
            l3vni: 6000,
            router_mac: "02:00:00:00:60:00".into(),
            advertise: vec!["203.0.113.0/24".into()],
            ..Default::default()
        },
    )
    .unwrap()
    .vrf
    .unwrap();
    assert_eq!(
        (blue.rd.as_str(), blue.router_mac.as_str()),
        ("198.19.0.91:6000", "02:00:00:00:60:00")
    );
    assert_eq!(blue.advertise, vec!["203.0.113.0/24".to_string()]);
    let bad = |r: v1::AddVrfRequest| add_vrf(&d, r);
    let named = |name: &str, l3vni: u32| v1::AddVrfRequest {
        name: name.into(),
        l3vni,
        ..Default::default()
    };
    refused(bad(named("blue", 6001)), Code::AlreadyExists, "name");
    refused(bad(named("green", 0)), Code::InvalidArgument, "l3vni");
    refused(bad(named("green", 5000)), Code::InvalidArgument, "l3vni");
    refused(bad(named("green", 400)), Code::InvalidArgument, "l3vni");
    refused(
        bad(named("a-name-too-long-for-a-vrf", 7000)),
        Code::InvalidArgument,
        "name",
    );
    refused(
        bad(v1::AddVrfRequest {
            router_mac: "01:00:5e:00:00:01".into(),
            ..named("green", 7000)
        }),
        Code::InvalidArgument,
        "router-mac",
    );
    refused(
        bad(v1::AddVrfRequest {
            netns: "h1-green".into(),
            ..named("green", 7000)
        }),
        Code::FailedPrecondition,
        "netns",
    );

    // CreateVni into a VRF: a VRF that exists, gateways only with a VRF, no overlap in a VRF.
    let vni = |vni: u32, vrf: &str, gateways: &[&str]| v1::CreateVniRequest {
        vni,
        vrf: vrf.into(),
        gateways: gateways.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    };
    refused(
        create_vni(&d, vni(300, "green", &[])),
        Code::NotFound,
        "vrf",
    );
    refused(
        create_vni(&d, vni(300, "", &["198.51.100.1/24"])),
        Code::InvalidArgument,
        "gateway",
    );
    refused(
        create_vni(&d, vni(300, "red", &["192.0.2.1/25"])),
        Code::InvalidArgument,
        "gateway",
    );
    refused(
        create_vni(&d, vni(300, "blue", &["192.0.2.0/24"])),
        Code::InvalidArgument,
        "gateway",
    );
    refused(
        create_vni(&d, vni(6000, "", &[])),
        Code::InvalidArgument,
        "vni",
    );
    // Blue may reuse red's subnet: separate routing tables.
    create_vni(&d, vni(300, "blue", &["192.0.2.254/24"])).unwrap();
    let list = vrfs(&d, 0, String::new()).vrfs;
    let b = list.iter().find(|v| v.name == "blue").unwrap();
    assert_eq!(b.vnis, vec![300]);

    // RemoveVrf: refused while VNI 300 names blue, done once it is gone, then NOT_FOUND.
    refused(remove_vrf(&d, "blue"), Code::FailedPrecondition, "name");
    d.call(|mut c| async move { c.delete_vni(v1::DeleteVniRequest { vni: 300 }).await })
        .unwrap();
    remove_vrf(&d, "blue").unwrap();
    refused(remove_vrf(&d, "blue"), Code::NotFound, "name");
    assert!(!dataplane(&d).vrfs.iter().any(|v| v.vrf == "blue"));

    // VRF routes and the routes of a VRF: an unknown VRF is NOT_FOUND; red's lists hold only
    // red's rows (type-2 routes with an L3VNI and type-5 routes).
    refused(ip_routes(&d, "green"), Code::NotFound, "vrf");
    refused(routes_of_vrf(&d, "green"), Code::NotFound, "vrf");
    assert!(ip_routes(&d, "red")
        .unwrap()
        .routes
        .iter()
        .all(|r| r.vrf == "red"));
    for r in routes_of_vrf(&d, "red").unwrap() {
        let t = r.evpn.as_ref().map_or(0, |e| e.route_type);
        assert!(t == 2 || t == 5, "{r:?}");
    }

    // Pages: every VRF once.
    for name in ["c1", "c2", "c3"] {
        add_vrf(&d, named(name, 7000 + u32::from(name.as_bytes()[1]))).unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = vrfs(&d, 2, token);
        assert!(page.vrfs.len() <= 2);
        seen.extend(page.vrfs.into_iter().map(|v| v.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, vec!["c1", "c2", "c3", "red"]);
}

#[test]
fn evpnctl_shows_and_manages_vrfs() {
    let port = free_port("127.0.0.92");
    let d = Daemon::start("vrf-cli", &config("127.0.0.92", port, "198.19.0.92", &[]));
    let out = d.evpnctl(&["show", "vrfs"]);
    assert!(out.contains("red") && out.contains("5000"), "{out}");
    assert!(
        out.contains("198.19.0.92:5000") && out.contains("02:00:c6:13:00:5c"),
        "{out}"
    );
    assert!(out.ends_with("1 VRF(s)\n"), "{out}");
    let out = d.evpnctl(&[
        "vrf",
        "add",
        "blue",
        "--l3vni",
        "6000",
        "--advertise",
        "203.0.113.0/24",
    ]);
    assert!(out.starts_with("VRF blue created: l3vni 6000"), "{out}");
    let out = d.evpnctl(&[
        "vni",
        "add",
        "300",
        "--vrf",
        "blue",
        "--gateway",
        "198.51.100.1/24",
        "--gateway",
        "2001:db8:300::1/64",
    ]);
    assert!(out.starts_with("VNI 300 created"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&d.evpnctl(&["show", "vrfs", "--json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let blue = rows.iter().find(|r| r["name"] == "blue").unwrap();
    assert_eq!(blue["vnis"], serde_json::json!([300]));
    assert_eq!(blue["advertise"], serde_json::json!(["203.0.113.0/24"]));
    // Refused: exit 1 with the daemon's message.
    let (code, _) = d.evpnctl_status(&["vrf", "del", "blue"]);
    assert_eq!(code, 1);
    let (code, _) = d.evpnctl_status(&["vni", "add", "301", "--vrf", "nope"]);
    assert_eq!(code, 1);
    d.evpnctl(&["vni", "del", "300"]);
    assert_eq!(d.evpnctl(&["vrf", "del", "blue"]), "VRF blue deleted\n");
    let out = d.evpnctl(&["show", "ip-routes", "--vrf", "red"]);
    assert!(out.starts_with("VRF") && out.contains("route(s)"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&d.evpnctl(&["show", "ip-routes", "--json"])).unwrap();
    assert!(json.is_array());
    let (code, _) = d.evpnctl_status(&["show", "ip-routes", "--vrf", "nope"]);
    assert_eq!(code, 1);
    let out = d.evpnctl(&["show", "routes", "--vrf", "red"]);
    assert!(out.contains("route(s)"), "{out}");
    let out = d.evpnctl(&["show", "dataplane"]);
    assert!(out.contains("VRFS") && out.contains("red"), "{out}");
}

#[test]
fn an_api_vrf_survives_a_restart_before_its_vnis() {
    let port = free_port("127.0.0.93");
    let mut d = Daemon::start(
        "vrf-journal",
        &config("127.0.0.93", port, "198.19.0.93", &[]),
    );
    add_vrf(
        &d,
        v1::AddVrfRequest {
            name: "blue".into(),
            l3vni: 6000,
            rd: "198.19.0.93:66".into(),
            import_route_targets: vec!["65000:6000".into(), "65000:6001".into()],
            advertise_connected: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    create_vni(
        &d,
        v1::CreateVniRequest {
            vni: 300,
            vrf: "blue".into(),
            gateways: vec!["198.51.100.1/24".into()],
            ..Default::default()
        },
    )
    .unwrap();
    d.kill(libc::SIGKILL);
    d.spawn();
    let list = vrfs(&d, 0, String::new()).vrfs;
    let blue = list
        .iter()
        .find(|v| v.name == "blue")
        .expect("blue is back");
    assert_eq!(blue.rd, "198.19.0.93:66");
    assert_eq!(
        blue.import_route_targets,
        vec!["65000:6000".to_string(), "65000:6001".to_string()]
    );
    assert!(!blue.advertise_connected);
    // Its VNI came back after it (a VNI naming a missing VRF would have been refused).
    assert_eq!(blue.vnis, vec![300]);
}

/// Symmetric IRB between two hosts (RFC 9135 §5): a tenant of VNI 100 on A is reached from
/// B, which has only VNI 200 in red, through a host route over the L3VNI towards A's VTEP
/// with A's router MAC; `show routes --vrf red` at B lists A's type-2 route with label 2.
#[test]
fn a_remote_tenant_becomes_a_host_route_in_the_vrf() {
    let (pa, pb) = (free_port("127.0.0.94"), free_port("127.0.0.95"));
    let a = Daemon::start(
        "vrf-host-a",
        &config("127.0.0.94", pa, "198.19.0.94", &[("127.0.0.95", pb)]),
    );
    let b_config = config("127.0.0.95", pb, "198.19.0.95", &[("127.0.0.94", pa)])
        .replace("vni = 100\n", "vni = 200\n")
        .replace("192.0.2.254/24", "198.51.100.254/24")
        .replace("2001:db8:100::1/64", "2001:db8:200::1/64");
    let b = Daemon::start("vrf-host-b", &b_config);
    wait_until(WAIT, || a.all_established() && b.all_established()).unwrap();
    a.attach(endpoint(100, "02:00:00:00:94:01", "192.0.2.10"))
        .unwrap();
    let host_route = |b: &Daemon| {
        ip_routes(b, "red").unwrap().routes.into_iter().find(|r| {
            r.prefix == "192.0.2.10/32"
                && r.origin == "host-route"
                && r.paths
                    .iter()
                    .any(|p| p.vtep == "198.19.0.94" && p.router_mac == "02:00:c6:13:00:5e")
        })
    };
    wait_until(WAIT, || host_route(&b).is_some()).unwrap();
    let routes = routes_of_vrf(&b, "red").unwrap();
    assert!(
        routes.iter().any(|r| r
            .evpn
            .as_ref()
            .is_some_and(|e| e.route_type == 2 && e.ip == "192.0.2.10")),
        "{routes:?}"
    );
    // The memory data plane at B holds the route and A's router MAC.
    let dp = dataplane(&b);
    assert!(dp
        .router_macs
        .iter()
        .any(|m| m.vrf == "red" && m.vtep == "198.19.0.94" && m.mac == "02:00:c6:13:00:5e"));
    assert!(dp
        .routes
        .iter()
        .any(|r| r.prefix == "192.0.2.10/32" && r.vteps == vec!["198.19.0.94".to_string()]));
    assert!(vrfs(&b, 0, String::new()).vrfs[0].host_routes >= 1);

    // `explain ip --vrf`: the routed path, its source and what is installed.
    let explain = |b: &Daemon, ip: &str, vrf: &str| {
        let req = v1::ExplainRequest {
            ip: ip.into(),
            vrf: vrf.into(),
            ..Default::default()
        };
        b.call(|mut c| async move { c.explain(req).await })
    };
    let x = explain(&b, "192.0.2.10", "red").unwrap();
    assert!(x.complete, "{x:?}");
    let route = x.vrf_route.expect("the routed path");
    assert_eq!(route.prefix, "192.0.2.10/32");
    assert!(route
        .sources
        .iter()
        .any(|s| s.origin == "host-route" && s.vtep == "198.19.0.94" && s.installed));
    refused(explain(&b, "192.0.2.10", "green"), Code::NotFound, "vrf");
    // No route of red holds an address outside its subnets: the link breaks (exit 4).
    let (code, out) = b.evpnctl_status(&["explain", "ip", "203.0.113.9", "--vrf", "red"]);
    assert_eq!(code, 4, "{out}");
    let out = b.evpnctl(&["explain", "ip", "192.0.2.10", "--vrf", "red"]);
    assert!(out.contains("host-route from 198.19.0.94"), "{out}");
    assert!(out.contains("complete"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&b.evpnctl(&[
        "explain",
        "ip",
        "192.0.2.10",
        "--vrf",
        "red",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["vrf_route"]["prefix"], "192.0.2.10/32");
}

#[test]
fn a_reload_adds_and_removes_vrfs_and_refuses_a_changed_one() {
    let port = free_port("127.0.0.96");
    let d = Daemon::start(
        "vrf-reload",
        &config("127.0.0.96", port, "198.19.0.96", &[]),
    );
    let original = std::fs::read_to_string(&d.config).unwrap();
    let reload = |d: &Daemon| {
        d.call(|mut c| async move { c.reload_config(v1::ReloadConfigRequest {}).await })
    };
    // Blue and its VNI 300 come in one reload: the VRF before the VNI that names it.
    let with_blue = original.replace(
        "[[vni]]\nvni = 400\n",
        "[[vni]]\nvni = 400\n[[vrf]]\nname = \"blue\"\nl3vni = 6000\n[[vni]]\nvni = 300\nvrf = \"blue\"\ngateway = [\"198.51.100.1/24\"]\n",
    );
    std::fs::write(&d.config, &with_blue).unwrap();
    let r = reload(&d).unwrap();
    assert_eq!(r.vrfs_added, vec!["blue".to_string()]);
    assert_eq!(r.vnis_added, vec![300]);
    let list = vrfs(&d, 0, String::new()).vrfs;
    let blue = list.iter().find(|v| v.name == "blue").expect("blue");
    assert_eq!(blue.vnis, vec![300]);
    // A changed VRF needs a restart: nothing changes.
    std::fs::write(&d.config, with_blue.replace("l3vni = 6000", "l3vni = 6001")).unwrap();
    let e = reload(&d).unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("vrf blue"), "{e:?}");
    assert_eq!(vrfs(&d, 0, String::new()).vrfs.len(), 2);
    // Gone again: the VNI before the VRF.
    std::fs::write(&d.config, &original).unwrap();
    let r = reload(&d).unwrap();
    assert_eq!(r.vrfs_removed, vec!["blue".to_string()]);
    assert_eq!(r.vnis_removed, vec![300]);
    let list = vrfs(&d, 0, String::new()).vrfs;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(dataplane(&d).errors, 0, "every intent fitted the tables");
}

/// Type-5 (RFC 9136 §4.4.1): A advertises 203.0.113.0/24 and its connected subnets into red;
/// B installs them as `ip-prefix` routes towards A's VTEP, and `show routes --vrf red` at B
/// lists A's type-5 routes.
#[test]
fn advertised_prefixes_become_ip_prefix_routes_in_the_vrf() {
    let (pa, pb) = (free_port("127.0.0.97"), free_port("127.0.0.98"));
    let a_config = config("127.0.0.97", pa, "198.19.0.97", &[("127.0.0.98", pb)]).replace(
        "l3vni = 5000\n",
        "l3vni = 5000\nadvertise = [\"203.0.113.0/24\"]\n",
    );
    let a = Daemon::start("vrf-t5-a", &a_config);
    let b_config = config("127.0.0.98", pb, "198.19.0.98", &[("127.0.0.97", pa)])
        .replace("vni = 100\n", "vni = 200\n")
        .replace("192.0.2.254/24", "198.51.100.254/24")
        .replace("2001:db8:100::1/64", "2001:db8:200::1/64");
    let b = Daemon::start("vrf-t5-b", &b_config);
    wait_until(WAIT, || a.all_established() && b.all_established()).unwrap();
    let prefix_route = |b: &Daemon, prefix: &str| {
        ip_routes(b, "red").unwrap().routes.into_iter().any(|r| {
            r.prefix == prefix
                && r.origin == "ip-prefix"
                && r.paths.iter().any(|p| p.vtep == "198.19.0.97")
        })
    };
    wait_until(WAIT, || {
        prefix_route(&b, "203.0.113.0/24") && prefix_route(&b, "192.0.2.0/24")
    })
    .unwrap();
    let routes = routes_of_vrf(&b, "red").unwrap();
    assert!(routes
        .iter()
        .any(|r| r.evpn.as_ref().is_some_and(|e| e.route_type == 5)));
}
