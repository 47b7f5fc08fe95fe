//! The run-time management API over a real unix socket against real evpnd processes on
//! loopback (issue 10): a VNI created through the API carries an attached endpoint to a peer
//! and is deleted again; refused calls carry the right gRPC code and name the field; paged
//! lists return every entry exactly once; configuration reload (API and SIGHUP) adds and
//! removes neighbours without touching an unchanged session, and a bad file changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{endpoint, free_port, wait_until, Daemon, EvpnApi};
use evpnd_api::v1;
use std::collections::BTreeSet;
use std::time::Duration;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(20);
const ASN: u32 = 65000;

/// A daemon's configuration: BGP on `ip:port`, the EVPN engine at VTEP `vtep` with `vnis`,
/// the memory data plane, and `neighbors` as (address, port).
fn config(ip: &str, port: u16, vtep: &str, vnis: &[u32], neighbors: &[(&str, u16)]) -> String {
    let mut s = format!(
        "asn = {ASN}\nrouter-id = \"{vtep}\"\n[bgp]\nlisten = \"{ip}:{port}\"\nhold-time = 9\nconnect-retry = 0.2\n"
    );
    for (a, p) in neighbors {
        s.push_str(&neighbor(a, *p, ip));
    }
    s.push_str(&format!("[evpn]\nvtep = \"{vtep}\"\n"));
    for v in vnis {
        s.push_str(&format!("[[vni]]\nvni = {v}\n"));
    }
    s.push_str("[dataplane]\nkind = \"memory\"\n");
    s
}

fn neighbor(address: &str, port: u16, local: &str) -> String {
    format!(
        "[[neighbor]]\naddress = \"{address}\"\nremote-asn = {ASN}\nport = {port}\nlocal-address = \"{local}\"\n"
    )
}

fn state_of(d: &Daemon, address: &str) -> Option<v1::Neighbor> {
    d.neighbors().into_iter().find(|n| n.address == address)
}

fn established(d: &Daemon, address: &str) -> bool {
    state_of(d, address).is_some_and(|n| n.state == "Established")
}

fn create_vni(d: &Daemon, r: v1::CreateVniRequest) -> Result<v1::CreateVniResponse, tonic::Status> {
    d.call(|mut c| async move { c.create_vni(r).await })
}

fn delete_vni(d: &Daemon, vni: u32) -> Result<(), tonic::Status> {
    d.call(|mut c| async move { c.delete_vni(v1::DeleteVniRequest { vni }).await })
        .map(|_| ())
}

fn endpoints(d: &Daemon) -> Vec<v1::Endpoint> {
    d.call(|mut c| async move { c.list_endpoints(v1::ListEndpointsRequest::default()).await })
        .unwrap()
        .endpoints
}

fn reload(d: &Daemon) -> Result<v1::ReloadConfigResponse, tonic::Status> {
    d.call(|mut c| async move { c.reload_config(v1::ReloadConfigRequest {}).await })
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
fn a_vni_created_at_run_time_carries_an_endpoint_to_a_peer_and_goes_again() {
    let (pa, pb) = (free_port("127.0.0.51"), free_port("127.0.0.52"));
    let a = Daemon::start(
        "api-a",
        &config("127.0.0.51", pa, "198.19.0.51", &[], &[("127.0.0.52", pb)]),
    );
    let b = Daemon::start(
        "api-b",
        &config(
            "127.0.0.52",
            pb,
            "198.19.0.52",
            &[100],
            &[("127.0.0.51", pa)],
        ),
    );
    wait_until(WAIT, || a.all_established() && b.all_established()).unwrap();
    assert!(a.vnis().vnis.is_empty());

    let created = create_vni(
        &a,
        v1::CreateVniRequest {
            vni: 100,
            ..Default::default()
        },
    )
    .unwrap()
    .vni
    .unwrap();
    assert_eq!(created.vni, 100);
    assert_eq!(created.rd, "198.19.0.51:100", "auto RD router-id:EVI");
    assert_eq!(created.export_route_targets, vec!["65000:100".to_string()]);
    assert_eq!(a.vnis().vnis.len(), 1);
    // The new EVI's type-3 route reaches B: B floods to A's VTEP.
    wait_until(WAIT, || {
        b.flood(100)
            .iter()
            .any(|f| f.vteps.contains(&"198.19.0.51".to_string()))
    })
    .unwrap();

    let mac = "02:00:00:00:51:01";
    a.attach(endpoint(100, mac, "192.0.2.51")).unwrap();
    wait_until(WAIT, || {
        b.macs(100)
            .iter()
            .any(|m| m.mac == mac && m.location == "198.19.0.51")
    })
    .unwrap();
    let eps = endpoints(&a);
    assert_eq!(eps.len(), 1, "{eps:?}");
    assert_eq!(eps[0].mac, mac);
    assert_eq!(eps[0].ips, vec!["192.0.2.51".to_string()]);
    assert_eq!(eps[0].origins, vec!["api".to_string()]);

    a.detach(100, mac, "").unwrap();
    wait_until(WAIT, || b.macs(100).iter().all(|m| m.mac != mac)).unwrap();
    assert!(endpoints(&a).is_empty());

    delete_vni(&a, 100).unwrap();
    assert!(a.vnis().vnis.is_empty());
    wait_until(WAIT, || {
        b.flood(100)
            .iter()
            .all(|f| !f.vteps.contains(&"198.19.0.51".to_string()))
    })
    .unwrap();
    // The session never flapped through all this.
    assert_eq!(state_of(&a, "127.0.0.52").unwrap().established_count, 1);

    // A soft reset keeps the session; a hard one restarts it.
    let reset = |soft: bool| {
        a.call(|mut c| async move {
            c.reset_neighbor(v1::ResetNeighborRequest {
                address: "127.0.0.52".into(),
                soft,
            })
            .await
        })
        .unwrap()
    };
    assert_eq!(reset(true).families, vec!["l2vpn-evpn".to_string()]);
    assert_eq!(state_of(&a, "127.0.0.52").unwrap().established_count, 1);
    assert!(reset(false).families.is_empty());
    wait_until(WAIT, || {
        state_of(&a, "127.0.0.52")
            .is_some_and(|n| n.established_count == 2 && n.state == "Established")
    })
    .unwrap();
    let n = state_of(&b, "127.0.0.51").unwrap();
    let sent = n.last_notification_received.expect("B heard the Cease");
    assert_eq!(
        (sent.code, sent.subcode),
        (6, 4),
        "Cease/Administrative Reset (RFC 4486)"
    );
}

#[test]
fn refused_calls_carry_the_right_code_and_name_the_field() {
    let p = free_port("127.0.0.53");
    let a = Daemon::start(
        "api-refuse",
        &format!(
            "{}[[endpoint]]\nvni = 100\nmac = \"02:00:00:00:53:01\"\n",
            config("127.0.0.53", p, "198.19.0.53", &[100], &[("127.0.0.54", 1)])
        ),
    );
    // An endpoint of the configuration says so; attached through the API too, it has both.
    let eps = endpoints(&a);
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].origins, vec!["config".to_string()]);
    let vni = |vni: u32| v1::CreateVniRequest {
        vni,
        ..Default::default()
    };
    refused(create_vni(&a, vni(0)), Code::InvalidArgument, "vni");
    refused(create_vni(&a, vni(1 << 24)), Code::InvalidArgument, "vni");
    refused(
        create_vni(
            &a,
            v1::CreateVniRequest {
                rd: "nonsense".into(),
                ..vni(200)
            },
        ),
        Code::InvalidArgument,
        "rd",
    );
    refused(
        create_vni(
            &a,
            v1::CreateVniRequest {
                export_route_targets: vec!["65000".into()],
                ..vni(200)
            },
        ),
        Code::InvalidArgument,
        "export_route_targets",
    );
    refused(create_vni(&a, vni(100)), Code::AlreadyExists, "vni");
    // The memory data plane has no devices to name.
    refused(
        create_vni(
            &a,
            v1::CreateVniRequest {
                bridge: "br-x".into(),
                ..vni(200)
            },
        ),
        Code::FailedPrecondition,
        "bridge",
    );
    assert_eq!(a.vnis().vnis.len(), 1, "nothing was created by a refusal");
    refused(delete_vni(&a, 999), Code::NotFound, "vni");
    refused(
        a.call(|mut c| async move {
            c.add_neighbor(v1::AddNeighborRequest {
                address: "127.0.0.54".into(),
                remote_asn: ASN,
                ..Default::default()
            })
            .await
        }),
        Code::AlreadyExists,
        "address",
    );
    refused(
        a.call(|mut c| async move {
            c.add_neighbor(v1::AddNeighborRequest {
                address: "not-an-ip".into(),
                remote_asn: ASN,
                ..Default::default()
            })
            .await
        }),
        Code::InvalidArgument,
        "address",
    );
    refused(
        a.call(|mut c| async move {
            c.remove_neighbor(v1::RemoveNeighborRequest {
                address: "127.0.0.99".into(),
            })
            .await
        }),
        Code::NotFound,
        "address",
    );
    // A soft reset needs an Established session (ROUTE-REFRESH).
    refused(
        a.call(|mut c| async move {
            c.reset_neighbor(v1::ResetNeighborRequest {
                address: "127.0.0.54".into(),
                soft: true,
            })
            .await
        }),
        Code::FailedPrecondition,
        "address",
    );
    refused(
        a.call(|mut c| async move {
            c.list_macs(v1::ListMacsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            })
            .await
        }),
        Code::InvalidArgument,
        "page_token",
    );
    refused(
        a.call(|mut c| async move {
            c.list_routes(v1::ListRoutesRequest {
                rt: "1:2:3".into(),
                ..Default::default()
            })
            .await
        }),
        Code::InvalidArgument,
        "rt",
    );
    refused(
        a.call(|mut c| async move {
            c.list_endpoints(v1::ListEndpointsRequest {
                vni: 555,
                ..Default::default()
            })
            .await
        }),
        Code::NotFound,
        "vni",
    );
    // A neighbour added and removed through the API.
    a.call(|mut c| async move {
        c.add_neighbor(v1::AddNeighborRequest {
            address: "127.0.0.55".into(),
            remote_asn: ASN,
            passive: true,
            families: vec!["l2vpn-evpn".into()],
            ..Default::default()
        })
        .await
    })
    .unwrap();
    let n = state_of(&a, "127.0.0.55").unwrap();
    assert!(n.passive);
    a.call(|mut c| async move {
        c.remove_neighbor(v1::RemoveNeighborRequest {
            address: "127.0.0.55".into(),
        })
        .await
    })
    .unwrap();
    assert!(state_of(&a, "127.0.0.55").is_none());
}

#[test]
fn paged_lists_return_every_entry_once() {
    let p = free_port("127.0.0.56");
    let a = Daemon::start(
        "api-pages",
        &config("127.0.0.56", p, "198.19.0.56", &[100, 200], &[]),
    );
    let mut want = BTreeSet::new();
    for i in 0..1200u32 {
        let vni = if i % 2 == 0 { 100 } else { 200 };
        let mac = format!("02:00:00:00:{:02x}:{:02x}", i >> 8, i & 0xff);
        a.attach(endpoint(vni, &mac, "")).unwrap();
        want.insert((vni, mac));
    }
    // Small pages through the whole table, then one VNI only.
    let mut got = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let r = a
            .call(|mut c| async move {
                c.list_macs(v1::ListMacsRequest {
                    vni: 0,
                    page_size: 500,
                    page_token,
                })
                .await
            })
            .unwrap();
        pages += 1;
        assert!(r.macs.len() <= 500);
        got.extend(r.macs.into_iter().map(|m| (m.vni, m.mac)));
        if r.next_page_token.is_empty() {
            break;
        }
        page_token = r.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(got.len(), 1200, "no entry twice");
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(a.macs(200).len(), 600);
    // The routes: each endpoint's type-2 plus the two type-3 routes, paged by the helper.
    assert_eq!(a.evpn_routes().len(), 1202);
    let type3 = a
        .call(|mut c| async move {
            c.list_routes(v1::ListRoutesRequest {
                route_type: 3,
                best_only: true,
                peer: "local".into(),
                ..Default::default()
            })
            .await
        })
        .unwrap();
    assert_eq!(type3.routes.len(), 2);
    assert!(type3.next_page_token.is_empty());
    assert_eq!(endpoints(&a).len(), 1000, "the default page is 1000");
}

#[test]
fn reload_adds_and_removes_neighbours_and_leaves_the_others_alone() {
    let ips = ["127.0.0.57", "127.0.0.58", "127.0.0.59"];
    let ports: Vec<u16> = ips.iter().map(|ip| free_port(ip)).collect();
    let vteps = ["198.19.0.57", "198.19.0.58", "198.19.0.59"];
    // A knows B; B and C know A.
    let mut a = Daemon::start(
        "api-reload-a",
        &config(ips[0], ports[0], vteps[0], &[100], &[(ips[1], ports[1])]),
    );
    let b = Daemon::start(
        "api-reload-b",
        &config(ips[1], ports[1], vteps[1], &[100], &[(ips[0], ports[0])]),
    );
    let c = Daemon::start(
        "api-reload-c",
        &config(ips[2], ports[2], vteps[2], &[100], &[(ips[0], ports[0])]),
    );
    wait_until(WAIT, || established(&a, ips[1])).unwrap();
    let original = std::fs::read_to_string(&a.config).unwrap();

    // A bad file changes nothing and says why.
    std::fs::write(
        &a.config,
        original.replace("remote-asn = 65000", "remote-asn = \"x\""),
    )
    .unwrap();
    let e = reload(&a).unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("remote-asn"), "{e:?}");
    assert_eq!(a.neighbors().len(), 1);

    // Add C and VNI 200 through the API call.
    let with_c = original.replace(
        "[evpn]",
        &format!("{}[evpn]", neighbor(ips[2], ports[2], ips[0])),
    );
    let with_c = with_c.replace(
        "[[vni]]\nvni = 100\n",
        "[[vni]]\nvni = 100\n[[vni]]\nvni = 200\n",
    );
    std::fs::write(&a.config, &with_c).unwrap();
    let r = reload(&a).unwrap();
    assert_eq!(r.neighbors_added, vec![ips[2].to_string()]);
    assert!(r.neighbors_removed.is_empty() && r.neighbors_changed.is_empty());
    assert_eq!(r.vnis_added, vec![200]);
    wait_until(WAIT, || established(&a, ips[2]) && established(&c, ips[0])).unwrap();
    let vnis: Vec<u32> = a.vnis().vnis.iter().map(|v| v.vni).collect();
    assert_eq!(vnis, vec![100, 200]);
    // B's session was not touched.
    let nb = state_of(&a, ips[1]).unwrap();
    assert_eq!(nb.established_count, 1);
    assert_eq!(state_of(&b, ips[0]).unwrap().established_count, 1);

    // Remove B with SIGHUP.
    let without_b = with_c.replace(&neighbor(ips[1], ports[1], ips[0]), "");
    std::fs::write(&a.config, &without_b).unwrap();
    a.signal(libc::SIGHUP);
    wait_until(WAIT, || state_of(&a, ips[1]).is_none()).unwrap();
    wait_until(WAIT, || !established(&b, ips[0])).unwrap();
    // C stayed up all along; its uptime kept growing.
    let nc = state_of(&a, ips[2]).unwrap();
    assert_eq!(nc.state, "Established");
    assert_eq!(nc.established_count, 1);
    assert!(a.log_text().contains("configuration reloaded"));
    // The same file again changes nothing.
    let r = reload(&a).unwrap();
    assert_eq!(r, v1::ReloadConfigResponse::default());
    // A file adding a VNI the API created already is refused as a whole: the neighbour it
    // also adds does not appear.
    create_vni(
        &a,
        v1::CreateVniRequest {
            vni: 300,
            ..Default::default()
        },
    )
    .unwrap();
    let clash = without_b
        .replace(
            "[[vni]]\nvni = 200\n",
            "[[vni]]\nvni = 200\n[[vni]]\nvni = 300\n",
        )
        .replace(
            "[evpn]",
            &format!("{}[evpn]", neighbor("127.0.0.60", 1, ips[0])),
        );
    std::fs::write(&a.config, &clash).unwrap();
    let e = reload(&a).unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().starts_with("vni 300"), "{e:?}");
    assert!(state_of(&a, "127.0.0.60").is_none());
    a.kill(libc::SIGTERM);
}

/// The device options of a VNI created through the API reach the Linux data plane: its bridge
/// and VXLAN device get the names asked for, are removed with the VNI, and a name another VNI
/// uses is refused (root, in a network namespace).
#[test]
fn a_vni_created_at_run_time_gets_its_named_devices_in_the_kernel() {
    if !evpnd_lab::require_root_and_tools(&["ip", "ping"]) {
        return;
    }
    let ns = evpnd_lab::Netns::new().unwrap();
    ns.ip(&["addr", "add", "198.18.0.81/32", "dev", "lo"])
        .unwrap();
    let mut d = common::netns_daemon::NsDaemon::start(
        &ns,
        "api-linux",
        &format!(
            "asn = {ASN}\nrouter-id = \"198.18.0.81\"\n[bgp]\nlisten = \"none\"\n[evpn]\nvtep = \"198.18.0.81\"\n[dataplane]\nkind = \"linux\"\n"
        ),
    );
    let has = |dev: &str| ns.ip(&["link", "show", dev]).is_ok();
    let create = |d: &common::netns_daemon::NsDaemon, r: v1::CreateVniRequest| {
        d.call(|mut c| async move { c.create_vni(r).await })
    };
    create(
        &d,
        v1::CreateVniRequest {
            vni: 300,
            bridge: "br-api".into(),
            vxlan_device: "vx-api".into(),
            learning: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    wait_until(WAIT, || has("br-api") && has("vx-api"))
        .unwrap_or_else(|e| panic!("{e}: no br-api/vx-api\n{}", d.log_text()));
    wait_until(WAIT, || {
        d.vnis()
            .vnis
            .iter()
            .any(|v| v.vni == 300 && v.dataplane_state == "up")
    })
    .unwrap();
    let vxlan = ns.ip(&["-d", "link", "show", "vx-api"]).unwrap();
    assert!(vxlan.contains("id 300"), "{vxlan}");
    assert!(vxlan.contains("master br-api"), "{vxlan}");

    // The VNI and its device options survive a crash (the API journal): after the restart
    // it runs on the same named devices, and no default-named ones appear.
    d.kill_hard();
    d.spawn();
    let v = d.vnis();
    assert_eq!(v.vnis.len(), 1, "{v:?}");
    assert_eq!(v.vnis[0].vni, 300);
    wait_until(WAIT, || {
        d.vnis()
            .vnis
            .iter()
            .any(|v| v.vni == 300 && v.dataplane_state == "up")
    })
    .unwrap_or_else(|e| panic!("{e}: VNI 300 not up after the restart\n{}", d.log_text()));
    let vxlan = ns.ip(&["-d", "link", "show", "vx-api"]).unwrap();
    assert!(vxlan.contains("master br-api"), "{vxlan}");
    assert!(
        !has("br300") && !has("vx300"),
        "default names after the restart"
    );

    d.call(|mut c| async move { c.delete_vni(v1::DeleteVniRequest { vni: 300 }).await })
        .unwrap();
    wait_until(WAIT, || !has("br-api") && !has("vx-api")).unwrap();

    // Created again without options: the default names.
    create(
        &d,
        v1::CreateVniRequest {
            vni: 300,
            ..Default::default()
        },
    )
    .unwrap();
    wait_until(WAIT, || has("br300") && has("vx300")).unwrap();
    // The names VNI 300 had before it was deleted are free again.
    create(
        &d,
        v1::CreateVniRequest {
            vni: 302,
            bridge: "br-api".into(),
            ..Default::default()
        },
    )
    .unwrap();
    wait_until(WAIT, || has("br-api") && has("vx302")).unwrap();
    // A MAC the kernel learns on a port of the bridge is an endpoint of origin "kernel".
    ns.ip(&[
        "link", "add", "evp0", "type", "veth", "peer", "name", "evp1",
    ])
    .unwrap();
    ns.ip(&["link", "set", "evp0", "master", "br300", "up"])
        .unwrap();
    ns.ip(&["link", "set", "evp1", "address", "02:00:00:00:81:01", "up"])
        .unwrap();
    ns.ip(&["addr", "add", "192.0.2.81/24", "dev", "evp1"])
        .unwrap();
    wait_until(WAIT, || {
        let _ = ns.exec(&["ping", "-c", "1", "-W", "1", "-I", "evp1", "192.0.2.82"]);
        d.call(|mut c| async move { c.list_endpoints(v1::ListEndpointsRequest::default()).await })
            .unwrap()
            .endpoints
            .iter()
            .any(|e| e.mac == "02:00:00:00:81:01" && e.origins == vec!["kernel".to_string()])
    })
    .unwrap_or_else(|e| panic!("{e}: the learned MAC is not an endpoint\n{}", d.log_text()));
    // Another VNI may not take a name VNI 300 uses.
    let e = create(
        &d,
        v1::CreateVniRequest {
            vni: 301,
            vxlan_device: "vx300".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().starts_with("vxlan_device:"), "{e:?}");
    assert!(!has("br301"));
    d.stop();
    drop(d);
    ns.delete().unwrap();
}

/// What the API made survives a crash (the API journal in the state directory): a VNI with
/// its RD and route targets, a neighbour (whose session comes back) and an endpoint (origin
/// api, still at the peer after the graceful restart settles). A VNI the configuration file
/// then names is the file's (its journal entry is dropped), and reload still refuses a file
/// that collides with an API-made VNI. Deleted and removed ones stay gone.
#[test]
fn api_vnis_neighbours_and_endpoints_survive_a_restart() {
    let (pa, pb) = (free_port("127.0.0.61"), free_port("127.0.0.62"));
    let a_config = config("127.0.0.61", pa, "198.19.0.61", &[], &[]);
    let mut a = Daemon::start("journal-a", &a_config);
    // B helps A restart gracefully (RFC 4724): it keeps A's routes while A is away.
    let b_config = config(
        "127.0.0.62",
        pb,
        "198.19.0.62",
        &[300],
        &[("127.0.0.61", pa)],
    )
    .replace(
        "local-address = \"127.0.0.62\"\n",
        "local-address = \"127.0.0.62\"\ngraceful-restart = true\nrestart-time = 90\n",
    );
    let b = Daemon::start("journal-b", &b_config);
    create_vni(
        &a,
        v1::CreateVniRequest {
            vni: 300,
            rd: "198.19.0.61:3".into(),
            import_route_targets: vec!["65000:300".into(), "*:300".into()],
            export_route_targets: vec!["65000:300".into()],
            ..Default::default()
        },
    )
    .unwrap();
    a.call(|mut c| async move {
        c.add_neighbor(v1::AddNeighborRequest {
            address: "127.0.0.62".into(),
            remote_asn: ASN,
            port: u32::from(pb),
            local_address: "127.0.0.61".into(),
            graceful_restart: true,
            ..Default::default()
        })
        .await
    })
    .unwrap();
    let mac = "02:00:00:00:61:01";
    a.attach(endpoint(300, mac, "192.0.2.61")).unwrap();
    let at_b = |b: &Daemon| {
        b.macs(300)
            .iter()
            .any(|m| m.mac == mac && m.location == "198.19.0.61")
    };
    wait_until(WAIT, || established(&a, "127.0.0.62") && at_b(&b)).unwrap();

    a.kill(libc::SIGKILL);
    a.spawn();
    let vnis = a.vnis().vnis;
    assert_eq!(vnis.len(), 1, "{vnis:?}");
    assert_eq!(vnis[0].vni, 300);
    assert_eq!(vnis[0].rd, "198.19.0.61:3");
    assert_eq!(
        vnis[0].import_route_targets,
        vec!["65000:300".to_string(), "*:300".to_string()]
    );
    assert_eq!(vnis[0].export_route_targets, vec!["65000:300".to_string()]);
    let n = state_of(&a, "127.0.0.62").expect("the neighbour is back");
    assert_eq!(n.remote_asn, ASN);
    let eps = endpoints(&a);
    assert_eq!(eps.len(), 1, "{eps:?}");
    assert_eq!(eps[0].mac, mac);
    assert_eq!(eps[0].origins, vec!["api".to_string()]);
    wait_until(WAIT, || established(&a, "127.0.0.62")).unwrap();
    // The restart settles (A's End-of-RIB reaches B, which then drops what A did not send
    // again): the endpoint's route is still at B.
    wait_until(WAIT, || established(&b, "127.0.0.61")).unwrap();
    // The journaled neighbour (graceful restart) joined the restart: A deferred its selection
    // until B's End-of-RIB (RFC 4724 §4.1), as for a configured one.
    let log = a.log_text();
    let restart = log
        .rfind("restarting after an unclean stop")
        .expect("A restarted");
    wait_until(WAIT, || {
        a.log_text()[restart..].contains("every End-of-RIB received")
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(at_b(&b), "B lost the endpoint: {:?}", b.macs(300));
    assert!(a.log_text().contains("made the API journal's"));

    // After the restart the VNI is still the API's: a file naming it is refused.
    std::fs::write(&a.config, a_file(&a, "[[vni]]\nvni = 300\n")).unwrap();
    let e = reload(&a).unwrap_err();
    assert!(e.message().contains("created through the API"), "{e:?}");

    // The file wins over the journal: VNI 300 is the file's (auto RD), its journal entry gone.
    a.kill(libc::SIGKILL);
    a.spawn();
    let vnis = a.vnis().vnis;
    assert_eq!(vnis[0].rd, "198.19.0.61:300", "the file's VNI: {vnis:?}");
    assert!(a.log_text().contains("the file wins"));
    std::fs::write(&a.config, a_file(&a, "")).unwrap();
    a.kill(libc::SIGKILL);
    a.spawn();
    assert!(
        a.vnis().vnis.is_empty(),
        "the dropped journal entry stays dropped"
    );

    // Deleted and removed through the API: gone after a restart.
    create_vni(
        &a,
        v1::CreateVniRequest {
            vni: 300,
            ..Default::default()
        },
    )
    .unwrap();
    delete_vni(&a, 300).unwrap();
    a.call(|mut c| async move {
        c.remove_neighbor(v1::RemoveNeighborRequest {
            address: "127.0.0.62".into(),
        })
        .await
    })
    .unwrap();
    a.kill(libc::SIGKILL);
    a.spawn();
    assert!(a.vnis().vnis.is_empty());
    assert!(a.neighbors().is_empty());
    assert!(endpoints(&a).is_empty());
}

/// The configuration file `d` runs with, without `[[vni]] 300` and with `extra` before its
/// `[dataplane]` section.
fn a_file(d: &Daemon, extra: &str) -> String {
    std::fs::read_to_string(&d.config)
        .unwrap()
        .replace("[[vni]]\nvni = 300\n", "")
        .replace("[dataplane]\n", &format!("{extra}[dataplane]\n"))
}

/// ListVnis and ListNeighbors are paged like the other lists: 2,500 VNIs created through the
/// API and 300 passive neighbours added through it are each listed exactly once in small
/// pages, and a request without page fields gets the first page of 1000 and a token.
#[test]
fn vnis_and_neighbours_are_listed_in_pages() {
    let p = free_port("127.0.0.63");
    let a = Daemon::start(
        "api-pages-vnis",
        &config("127.0.0.63", p, "198.19.0.63", &[], &[]),
    );
    let api = a.api.clone();
    let started = std::time::Instant::now();
    common::rt().block_on(async move {
        let mut c = common::connect(&api).await.unwrap();
        let t = std::time::Instant::now();
        for vni in 1..=2500u32 {
            c.create_vni(v1::CreateVniRequest {
                vni: vni * 7,
                ..Default::default()
            })
            .await
            .unwrap();
            if vni % 500 == 0 {
                eprintln!("{vni} VNIs: {:?}", t.elapsed());
            }
        }
        for i in 0..300u32 {
            c.add_neighbor(v1::AddNeighborRequest {
                address: format!("127.0.{}.{}", 100 + i / 200, 1 + i % 200),
                remote_asn: ASN,
                passive: true,
                ..Default::default()
            })
            .await
            .unwrap();
        }
    });
    eprintln!(
        "2,500 VNIs and 300 neighbours created in {:?}",
        started.elapsed()
    );

    let mut vnis = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    let started = std::time::Instant::now();
    loop {
        let r = a
            .call(|mut c| async move {
                c.list_vnis(v1::ListVnisRequest {
                    page_size: 300,
                    page_token,
                })
                .await
            })
            .unwrap();
        pages += 1;
        assert!(r.vnis.len() <= 300);
        assert!(r.status.is_some(), "every page carries the engine status");
        vnis.extend(r.vnis.into_iter().map(|v| v.vni));
        if r.next_page_token.is_empty() {
            break;
        }
        page_token = r.next_page_token;
    }
    eprintln!(
        "2,500 VNIs listed in {pages} pages in {:?}",
        started.elapsed()
    );
    assert_eq!(pages, 9);
    let want: Vec<u32> = (1..=2500u32).map(|v| v * 7).collect();
    assert_eq!(vnis, want, "every VNI once, in VNI order");
    let first = a
        .call(|mut c| async move { c.list_vnis(v1::ListVnisRequest::default()).await })
        .unwrap();
    assert_eq!(first.vnis.len(), 1000, "the default page is 1000");
    assert_eq!(first.next_page_token, "7000");
    assert_eq!(a.vnis().vnis.len(), 2500, "the helper follows the pages");

    let mut neighbors = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let r = a
            .call(|mut c| async move {
                c.list_neighbors(v1::ListNeighborsRequest {
                    page_size: 70,
                    page_token,
                })
                .await
            })
            .unwrap();
        pages += 1;
        assert!(r.neighbors.len() <= 70);
        neighbors.extend(r.neighbors.into_iter().map(|n| n.address));
        if r.next_page_token.is_empty() {
            break;
        }
        page_token = r.next_page_token;
    }
    assert_eq!(pages, 5);
    let want: Vec<String> = (0..300u32)
        .map(|i| format!("127.0.{}.{}", 100 + i / 200, 1 + i % 200))
        .collect();
    assert_eq!(neighbors, want, "every neighbour once, in the order added");
    assert_eq!(a.neighbors().len(), 300);
    refused(
        a.call(|mut c| async move {
            c.list_neighbors(v1::ListNeighborsRequest {
                page_size: 0,
                page_token: "x".into(),
            })
            .await
        }),
        Code::InvalidArgument,
        "page_token",
    );
    refused(
        a.call(|mut c| async move {
            c.list_vnis(v1::ListVnisRequest {
                page_size: 0,
                page_token: "x".into(),
            })
            .await
        }),
        Code::InvalidArgument,
        "page_token",
    );
}
