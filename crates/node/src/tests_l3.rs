//! Layer 3 in the node (RFC 9135, RFC 9136): VRFs from the configuration and from commands,
//! the validation of every layer-3 value, RT-Constraint memberships for the VRFs' import
//! targets, and the VRF queries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::*;
use evpnd_evpn::{
    DataplaneIntent, EngineConfig, EviConfig, GatewayAddress, IrbMode, VrfConfig, VrfName,
    VrfStaticRoute,
};
use evpnd_wire::{MacAddress, RouteTarget, Vni};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

const ASN: u32 = 65000;

fn rid() -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 1)
}

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn red() -> VrfName {
    VrfName::new("red").unwrap()
}

fn gw(s: &str) -> GatewayAddress {
    let (a, l) = s.split_once('/').unwrap();
    GatewayAddress {
        address: a.parse().unwrap(),
        prefix_len: l.parse().unwrap(),
    }
}

/// VRF red (L3VNI 5000) with VNI 100 (192.0.2.254/24) in it, and a bridged VNI 200.
fn l3_config() -> NodeConfig {
    let mut c = NodeConfig::new(ASN, rid());
    let mut evi = EviConfig::new(vni(100));
    evi.vrf = Some(red());
    evi.gateways = vec![gw("192.0.2.254/24"), gw("2001:db8:100::1/64")];
    c.evpn = Some(EvpnConfig {
        vrfs: vec![VrfConfig::new(red(), Some(vni(5000)))],
        engine: EngineConfig::new(ASN, rid(), IpAddr::V4(rid())),
        evis: vec![evi, EviConfig::new(vni(200))],
        endpoints: Vec::new(),
    });
    c
}

fn intents(n: &mut Node) -> Vec<DataplaneIntent> {
    std::iter::from_fn(|| n.poll_intent()).collect()
}

#[test]
fn configured_vrfs_reach_the_engine_before_their_vnis() {
    let mut n = Node::new(l3_config(), Instant::now()).unwrap();
    let all = intents(&mut n);
    let vrf_at = all
        .iter()
        .position(|i| matches!(i, DataplaneIntent::Vrf { vrf, .. } if *vrf == red()))
        .expect("a Vrf intent");
    let vni_at = all
        .iter()
        .position(|i| matches!(i, DataplaneIntent::Vni { vni: v, vrf: Some(_) } if v.get() == 100))
        .expect("the Vni intent of VNI 100 in red");
    assert!(vrf_at < vni_at, "{all:?}");
    let rows = n.vrfs().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].vrf.l3vni, Some(vni(5000)));
    assert_eq!(rows[0].vnis, vec![vni(100)]);
    assert_eq!(rows[0].vrf.rd.to_string(), "198.19.0.1:5000");
    // The VRF's auto route target is a membership next to the EVIs' (RFC 4684 §4).
    let rt: RouteTarget = "65000:5000".parse().unwrap();
    assert!(n.memberships().contains(&rt));
}

#[test]
fn every_layer3_value_is_refused_in_the_file_naming_its_field() {
    let field = |f: &dyn Fn(&mut EvpnConfig)| {
        let mut c = l3_config();
        f(c.evpn.as_mut().unwrap());
        c.validate().unwrap_err().field
    };
    assert!(l3_config().validate().is_ok());
    assert_eq!(field(&|e| e.vrfs[0].l3vni = None), "l3vni");
    assert_eq!(field(&|e| e.vrfs[0].l3vni = Some(vni(200))), "l3vni");
    assert_eq!(
        field(&|e| e.vrfs[0].router_mac = Some(MacAddress([1, 0, 0, 0, 0, 1]))),
        "router-mac"
    );
    assert_eq!(
        field(&|e| e.engine.anycast_gateway_mac = MacAddress([0; 6])),
        "anycast-gateway-mac"
    );
    assert_eq!(field(&|e| e.vrfs.push(e.vrfs[0].clone())), "name");
    assert_eq!(
        field(&|e| {
            let mut blue = VrfConfig::new(VrfName::new("blue").unwrap(), Some(vni(5000)));
            blue.rd = Some("198.19.0.1:9".parse().unwrap());
            e.vrfs.push(blue);
        }),
        "l3vni"
    );
    // Gateway addresses: host inside the prefix, length in range, only with a VRF that exists.
    for bad in [
        "192.0.2.0/24",
        "192.0.2.255/24",
        "192.0.2.1/31",
        "192.0.2.1/0",
    ] {
        assert_eq!(
            field(&|e| e.evis[0].gateways = vec![gw(bad)]),
            "gateway",
            "{bad}"
        );
    }
    assert_eq!(
        field(&|e| e.evis[1].gateways = vec![gw("198.51.100.1/24")]),
        "gateway"
    );
    assert_eq!(
        field(&|e| e.evis[1].vrf = Some(VrfName::new("blue").unwrap())),
        "vrf"
    );
    // Two VNIs of one VRF with overlapping subnets.
    assert_eq!(
        field(&|e| {
            e.evis[1].vrf = Some(red());
            e.evis[1].gateways = vec![gw("192.0.2.129/25")];
        }),
        "gateway"
    );
    // A configured route's next hop must be on a gateway subnet of the VRF.
    let route = |via: &str| VrfStaticRoute {
        prefix: "203.0.113.0/24".parse().unwrap(),
        via: via.parse().unwrap(),
    };
    assert_eq!(
        field(&|e| e.vrfs[0].routes = vec![route("198.51.100.20")]),
        "route"
    );
    let mut ok = l3_config();
    ok.evpn.as_mut().unwrap().vrfs[0].routes = vec![route("192.0.2.20")];
    assert!(ok.validate().is_ok());
    // Asymmetric IRB needs no L3VNI.
    let mut asym = l3_config();
    let e = asym.evpn.as_mut().unwrap();
    e.engine.irb = IrbMode::Asymmetric;
    e.vrfs[0].l3vni = None;
    assert!(asym.validate().is_ok());
}

#[test]
fn vrf_commands_are_validated_like_the_file_and_change_nothing_when_refused() {
    let mut n = Node::new(l3_config(), Instant::now()).unwrap();
    let now = Instant::now();
    let refused = |n: &mut Node, cmd: Command| {
        let e = n.command(cmd, now).unwrap_err();
        (e.kind, e.field)
    };
    assert_eq!(
        refused(&mut n, Command::AddVrf(VrfSpec::new("red", Some(5001)))),
        (ErrorKind::AlreadyExists, "name")
    );
    assert_eq!(
        refused(
            &mut n,
            Command::AddVrf(VrfSpec::new("a-name-too-long-x", Some(5001)))
        ),
        (ErrorKind::InvalidArgument, "name")
    );
    assert_eq!(
        refused(&mut n, Command::AddVrf(VrfSpec::new("blue", None))),
        (ErrorKind::InvalidArgument, "l3vni")
    );
    assert_eq!(
        refused(&mut n, Command::AddVrf(VrfSpec::new("blue", Some(100)))),
        (ErrorKind::InvalidArgument, "l3vni")
    );
    assert_eq!(
        refused(&mut n, Command::RemoveVrf { name: "red".into() }),
        (ErrorKind::FailedPrecondition, "name")
    );
    assert_eq!(
        refused(
            &mut n,
            Command::RemoveVrf {
                name: "blue".into()
            }
        ),
        (ErrorKind::NotFound, "name")
    );
    let mut spec = VniSpec::new(300);
    spec.vrf = Some("blue".into());
    assert_eq!(
        refused(&mut n, Command::AddVni(spec)),
        (ErrorKind::NotFound, "vrf")
    );
    let mut spec = VniSpec::new(300);
    spec.gateways = vec![gw("198.51.100.1/24")];
    assert_eq!(
        refused(&mut n, Command::AddVni(spec)),
        (ErrorKind::InvalidArgument, "gateway")
    );
    let mut spec = VniSpec::new(300);
    spec.vrf = Some("red".into());
    spec.gateways = vec![gw("192.0.2.1/25")];
    assert_eq!(
        refused(&mut n, Command::AddVni(spec)),
        (ErrorKind::InvalidArgument, "gateway")
    );
    assert_eq!(
        refused(&mut n, Command::AddVni(VniSpec::new(5000))),
        (ErrorKind::InvalidArgument, "vni")
    );
    assert_eq!(n.vrfs().unwrap().len(), 1);
    assert!(n.vni(300).is_err());
}

#[test]
fn a_vrf_added_and_removed_at_run_time_comes_and_goes_with_its_memberships() {
    let mut n = Node::new(l3_config(), Instant::now()).unwrap();
    let now = Instant::now();
    intents(&mut n);
    let blue_rt: RouteTarget = "65000:6000".parse().unwrap();
    n.command(Command::AddVrf(VrfSpec::new("blue", Some(6000))), now)
        .unwrap();
    assert!(n.memberships().contains(&blue_rt));
    let blue = VrfName::new("blue").unwrap();
    assert!(intents(&mut n)
        .iter()
        .any(|i| matches!(i, DataplaneIntent::Vrf { vrf, .. } if *vrf == blue)));
    let mut spec = VniSpec::new(300);
    spec.vrf = Some("blue".into());
    // Blue may reuse red's subnet: VRFs are separate routing tables.
    spec.gateways = vec![gw("192.0.2.254/24")];
    n.command(Command::AddVni(spec), now).unwrap();
    let rows = n.vrfs().unwrap();
    let row = rows.iter().find(|r| r.vrf.name == blue).unwrap();
    assert_eq!(row.vnis, vec![vni(300)]);
    n.command(Command::RemoveVni { vni: 300 }, now).unwrap();
    n.command(
        Command::RemoveVrf {
            name: "blue".into(),
        },
        now,
    )
    .unwrap();
    assert!(!n.memberships().contains(&blue_rt));
    assert!(intents(&mut n)
        .iter()
        .any(|i| matches!(i, DataplaneIntent::RemoveVrf { vrf } if *vrf == blue)));
    assert_eq!(n.vrfs().unwrap().len(), 1);
}

#[test]
fn vrf_route_queries_check_the_vrf_and_page() {
    let n = Node::new(l3_config(), Instant::now()).unwrap();
    let e = n.vrf_routes_page(Some("blue"), None, 10).unwrap_err();
    assert_eq!((e.kind, e.field), (ErrorKind::NotFound, "vrf"));
    let page = n.vrf_routes_page(Some("red"), None, 10).unwrap();
    // Whatever the engine installed (nothing yet, or red's connected subnets), every row is
    // red's and in (VRF, prefix) order.
    assert!(page.items.iter().all(|r| r.vrf == red()));
    assert!(page
        .items
        .windows(2)
        .all(|w| (w[0].vrf, w[0].prefix) < (w[1].vrf, w[1].prefix)));
    // Routes of a VRF: only routed EVPN routes (type-2 with label 2, type-5); the type-3 of
    // VNI 100 is not one of them.
    let filter = RouteFilter {
        vrf: Some(red()),
        ..RouteFilter::default()
    };
    assert!(n.routes(&filter).all(|r| matches!(
        r.route,
        evpnd_wire::Route::Evpn(evpnd_wire::EvpnRoute::IpPrefix(_))
            | evpnd_wire::Route::Evpn(evpnd_wire::EvpnRoute::MacIp(_))
    )));
    let all = n.routes_page(&filter, None, 10);
    assert_eq!(all.items.len(), n.routes(&filter).count().min(10));
    // Without an engine the VRF queries are a precondition failure.
    let rr = Node::new(NodeConfig::new(ASN, rid()), Instant::now()).unwrap();
    assert_eq!(rr.vrfs().unwrap_err().kind, ErrorKind::FailedPrecondition);
}
