//! Layer 3: tenant VRFs, anycast gateways, symmetric and asymmetric IRB (RFC 9135), IP prefix
//! routes with GW-IP overlay recursion (RFC 9136). Every intent goes through [`Mirror`], which
//! applies it to a small copy of the data plane and fails on the order rules of
//! [`DataplaneIntent`] (the memory data plane's rules, which this crate cannot depend on).

use super::*;
use evpnd_wire::{IpPrefix, IpPrefixRoute, Nlri};
use std::collections::{BTreeMap, BTreeSet};

const L3VNI: Vni = vni(5000);
const OTHER_VNI: Vni = vni(200);

fn red() -> VrfName {
    VrfName::new("red").unwrap()
}

fn pfx(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

fn rmac(n: u8) -> MacAddress {
    MacAddress([0x02, 0, 0xc6, 0x12, 0, n])
}

fn router_mac_ec(m: MacAddress) -> ExtendedCommunity {
    ExtendedCommunity::new(ExtCommunityKind::RouterMac(m))
}

/// The data plane as far as layer 3 goes, with the order rules of [`DataplaneIntent`].
#[derive(Default, Debug)]
struct Mirror {
    vrfs: BTreeSet<VrfName>,
    vnis: BTreeMap<Vni, Option<VrfName>>,
    gateways: BTreeSet<(Vni, IpAddr, u8)>,
    router_macs: BTreeMap<(VrfName, IpAddr), MacAddress>,
    routes: BTreeMap<(VrfName, IpPrefix), BTreeSet<(bool, IpAddr)>>,
    log: Vec<DataplaneIntent>,
}

impl Mirror {
    fn apply(&mut self, e: &mut Engine) -> Vec<DataplaneIntent> {
        let mut batch = Vec::new();
        while let Some(i) = e.poll_intent() {
            self.one(i);
            batch.push(i);
        }
        self.log.extend(batch.iter().copied());
        batch
    }

    fn one(&mut self, i: DataplaneIntent) {
        match i {
            DataplaneIntent::Vrf { vrf, .. } => assert!(self.vrfs.insert(vrf), "{i:?} twice"),
            DataplaneIntent::RemoveVrf { vrf } => {
                assert!(self.vrfs.remove(&vrf), "{i:?}: unknown");
                assert!(
                    !self.vnis.values().any(|v| *v == Some(vrf)),
                    "{i:?}: VNIs left"
                );
                assert!(
                    !self.router_macs.keys().any(|(v, _)| *v == vrf),
                    "{i:?}: RMACs"
                );
                assert!(
                    !self.routes.keys().any(|(v, _)| *v == vrf),
                    "{i:?}: routes left"
                );
            }
            DataplaneIntent::Vni { vni, vrf } => {
                if let Some(v) = vrf {
                    assert!(self.vrfs.contains(&v), "{i:?} before its VRF");
                }
                assert!(self.vnis.insert(vni, vrf).is_none(), "{i:?} twice");
            }
            DataplaneIntent::RemoveVni { vni } => {
                assert!(
                    !self.gateways.iter().any(|g| g.0 == vni),
                    "{i:?}: gateways left"
                );
                self.vnis.remove(&vni);
            }
            DataplaneIntent::Gateway {
                vni,
                address,
                prefix_len,
                ..
            } => {
                assert!(self.vnis.get(&vni).is_some_and(|v| v.is_some()), "{i:?}");
                assert!(self.gateways.insert((vni, address, prefix_len)), "{i:?}");
            }
            DataplaneIntent::RemoveGateway {
                vni,
                address,
                prefix_len,
            } => assert!(self.gateways.remove(&(vni, address, prefix_len)), "{i:?}"),
            DataplaneIntent::RouterMac { vrf, vtep, mac } => {
                assert!(self.vrfs.contains(&vrf), "{i:?}");
                self.router_macs.insert((vrf, vtep), mac);
            }
            DataplaneIntent::RemoveRouterMac { vrf, vtep } => {
                let used = self
                    .routes
                    .iter()
                    .any(|((v, _), p)| *v == vrf && p.contains(&(true, vtep)));
                assert!(!used, "{i:?} while routes use it");
                assert!(self.router_macs.remove(&(vrf, vtep)).is_some(), "{i:?}");
            }
            DataplaneIntent::RemoteRoute { vrf, prefix, vtep } => {
                assert!(
                    self.router_macs.contains_key(&(vrf, vtep)),
                    "{i:?} before RMAC"
                );
                let paths = self.routes.entry((vrf, prefix)).or_default();
                assert!(paths.insert((true, vtep)), "{i:?} twice");
            }
            DataplaneIntent::GatewayRoute { vrf, prefix, via } => {
                assert!(self.vrfs.contains(&vrf), "{i:?}");
                let paths = self.routes.entry((vrf, prefix)).or_default();
                assert!(paths.insert((false, via)), "{i:?} twice");
            }
            DataplaneIntent::RemoveRemoteRoute { vrf, prefix, vtep } => {
                self.remove_path(vrf, prefix, (true, vtep), i)
            }
            DataplaneIntent::RemoveGatewayRoute { vrf, prefix, via } => {
                self.remove_path(vrf, prefix, (false, via), i)
            }
            _ => {}
        }
    }

    fn remove_path(
        &mut self,
        vrf: VrfName,
        prefix: IpPrefix,
        p: (bool, IpAddr),
        i: DataplaneIntent,
    ) {
        let paths = self.routes.get_mut(&(vrf, prefix)).expect("route");
        assert!(paths.remove(&p), "{i:?}: no such path");
        if paths.is_empty() {
            self.routes.remove(&(vrf, prefix));
        }
    }

    fn paths(&self, prefix: &str) -> Vec<(bool, IpAddr)> {
        self.routes
            .get(&(red(), pfx(prefix)))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// An engine with VRF red (L3VNI 5000) and VNI 100 in it, gateways 192.0.2.254/24 and
/// 2001:db8:100::1/64.
fn l3_engine(irb: IrbMode) -> (Engine, Mirror) {
    let mut config = EngineConfig::new(ASN, "198.19.0.1".parse().unwrap(), ip("198.18.0.1"));
    config.irb = irb;
    let mut e = Engine::new(config);
    let l3vni = (irb == IrbMode::Symmetric).then_some(L3VNI);
    e.add_vrf(VrfConfig::new(red(), l3vni));
    let mut evi = EviConfig::new(VNI);
    evi.vrf = Some(red());
    evi.gateways = vec![
        GatewayAddress {
            address: ip("192.0.2.254"),
            prefix_len: 24,
        },
        GatewayAddress {
            address: ip("2001:db8:100::1"),
            prefix_len: 64,
        },
    ];
    e.add_evi(evi);
    let mut m = Mirror::default();
    m.apply(&mut e);
    drain_routes(&mut e);
    (e, m)
}

/// A remote MAC+IP route of `vni` with label 2 (symmetric IRB).
fn remote_host(
    rd: RouteDistinguisher,
    l2: Vni,
    label2: Option<Vni>,
    m: MacAddress,
    addr: &str,
    vtep: &str,
    comms: Vec<ExtendedCommunity>,
) -> BestChange {
    let route = Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: m,
        ip: Some(ip(addr)),
        label1: l2.label(),
        label2: label2.map(Vni::label),
    }));
    let mut attrs = PathAttrs::from_attributes(
        &[PathAttribute::ExtendedCommunities(comms)],
        AttrSet::default(),
        NextHop::from_ip(ip(vtep)),
        true,
    );
    attrs.nlri_extras = NlriExtras {
        label1: l2.label(),
        label2: label2.map(Vni::label),
        ..NlriExtras::default()
    };
    best_change(route, attrs)
}

/// A remote IP prefix route.
fn remote_prefix(
    rd: RouteDistinguisher,
    prefix: &str,
    gateway: &str,
    esi: Esi,
    label: Vni,
    vtep: &str,
    comms: Vec<ExtendedCommunity>,
) -> BestChange {
    let p = pfx(prefix);
    let route = Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
        rd,
        esi,
        ethernet_tag: 0,
        prefix_len: p.len(),
        prefix: p.addr(),
        gateway: ip(gateway),
        label: label.label(),
    }));
    let mut attrs = PathAttrs::from_attributes(
        &[PathAttribute::ExtendedCommunities(comms)],
        AttrSet::default(),
        NextHop::from_ip(ip(vtep)),
        true,
    );
    attrs.nlri_extras = NlriExtras {
        esi,
        label1: label.label(),
        label2: None,
        gateway: Some(ip(gateway)),
    };
    best_change(route, attrs)
}

fn red_comms(n: u8) -> Vec<ExtendedCommunity> {
    vec![rt(65001, 5000), router_mac_ec(rmac(n))]
}

fn verdict(e: &Engine, c: &BestChange) -> ImportVerdict {
    e.import_verdict(c.best.as_ref().unwrap())
}

fn type5_of(r: &RouteChange) -> Option<IpPrefixRoute> {
    let nlri: &Nlri = match r {
        RouteChange::Originate { nlri, .. } | RouteChange::Withdraw { nlri } => nlri,
    };
    match nlri.route {
        Route::Evpn(EvpnRoute::IpPrefix(p)) => Some(p),
        _ => None,
    }
}

// ----- 1. EVIs in a VRF: gateways and connected routes -----

#[test]
fn an_evi_in_a_vrf_gets_its_anycast_gateways_and_connected_routes() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let gw_mac = DEFAULT_ANYCAST_GATEWAY_MAC;
    assert_eq!(
        m.log,
        vec![
            DataplaneIntent::Vrf {
                vrf: red(),
                l3vni: Some(L3VNI),
                router_mac: auto_router_mac("198.19.0.1".parse().unwrap()),
            },
            DataplaneIntent::Vni {
                vni: VNI,
                vrf: Some(red())
            },
            DataplaneIntent::Gateway {
                vni: VNI,
                address: ip("192.0.2.254"),
                prefix_len: 24,
                mac: gw_mac
            },
            DataplaneIntent::Gateway {
                vni: VNI,
                address: ip("2001:db8:100::1"),
                prefix_len: 64,
                mac: gw_mac
            },
        ]
    );
    let page = e.vrf_route_page(Some(red()), None, 10);
    assert_eq!(page.len(), 2);
    for (row, prefix) in page.iter().zip(["192.0.2.0/24", "2001:db8:100::/64"]) {
        assert_eq!(row.prefix, pfx(prefix));
        assert_eq!(row.origin, VrfRouteOrigin::Connected);
        assert_eq!(row.paths, vec![VrfRoutePath::Interface { vni: VNI }]);
    }
    assert_eq!(e.vrf_summaries()[0].local_routes, 2);
    assert_eq!(e.vrf_summaries()[0].vnis, vec![VNI]);
    e.remove_evi(VNI);
    let batch = m.apply(&mut e);
    assert_eq!(batch.last(), Some(&DataplaneIntent::RemoveVni { vni: VNI }));
    assert_eq!(
        batch
            .iter()
            .filter(|i| matches!(i, DataplaneIntent::RemoveGateway { .. }))
            .count(),
        2
    );
    assert!(e.vrf_route_page(None, None, 10).is_empty());
    // The connected subnets' IP prefix routes went with them.
    let withdrawn: Vec<IpPrefixRoute> = drain_routes(&mut e)
        .iter()
        .filter(|r| matches!(r, RouteChange::Withdraw { .. }))
        .filter_map(type5_of)
        .collect();
    assert_eq!(withdrawn.len(), 2);
}

#[test]
fn an_evi_naming_an_unknown_vrf_is_bridged_only() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    let mut evi = EviConfig::new(VNI);
    evi.vrf = Some(red());
    evi.gateways = vec![GatewayAddress {
        address: ip("192.0.2.254"),
        prefix_len: 24,
    }];
    e.add_evi(evi);
    let all: Vec<DataplaneIntent> = std::iter::from_fn(|| e.poll_intent()).collect();
    assert_eq!(
        all,
        vec![DataplaneIntent::Vni {
            vni: VNI,
            vrf: None
        }]
    );
    assert_eq!(e.evi(VNI).unwrap().vrf, None);
}

// ----- 2. symmetric origination of MAC/IP routes -----

#[test]
fn symmetric_mac_ip_routes_carry_label2_both_route_targets_and_the_router_mac() {
    let (mut e, _) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    attach(&mut e, VNI, mac(1), Some(ip("192.0.2.10")), false, t0).unwrap();
    let routes = drain_routes(&mut e);
    let mut seen = 0;
    for r in &routes {
        let RouteChange::Originate {
            nlri, attributes, ..
        } = r
        else {
            continue;
        };
        let Route::Evpn(EvpnRoute::MacIp(mi)) = nlri.route else {
            continue;
        };
        seen += 1;
        let comms = ext_comms(attributes);
        assert_eq!(mi.label1, VNI.label());
        if mi.ip.is_some() {
            assert_eq!(mi.label2, Some(L3VNI.label()));
            assert!(comms.contains(&rt(65001, 100)), "EVI RT");
            assert!(comms.contains(&rt(65001, 5000)), "VRF RT");
            let rm = auto_router_mac("198.19.0.1".parse().unwrap());
            assert!(comms.contains(&router_mac_ec(rm)));
            assert!(comms.contains(&ExtendedCommunity(ENCAP_VXLAN)));
        } else {
            assert_eq!(mi.label2, None, "MAC-only routes are unchanged");
            assert!(!comms.contains(&rt(65001, 5000)));
            assert!(!comms
                .iter()
                .any(|c| matches!(c.kind(), ExtCommunityKind::RouterMac(_))));
        }
    }
    assert_eq!(seen, 2);
}

#[test]
fn asymmetric_irb_leaves_mac_ip_routes_unchanged_and_installs_no_routes() {
    let (mut e, mut m) = l3_engine(IrbMode::Asymmetric);
    assert!(
        !m.log
            .iter()
            .any(|i| matches!(i, DataplaneIntent::Vrf { l3vni: Some(_), .. })),
        "no L3VNI"
    );
    let t0 = Instant::now();
    attach(&mut e, VNI, mac(1), Some(ip("192.0.2.10")), false, t0).unwrap();
    for r in drain_routes(&mut e) {
        if let RouteChange::Originate {
            nlri, attributes, ..
        } = &r
        {
            if let Route::Evpn(EvpnRoute::MacIp(mi)) = nlri.route {
                assert_eq!(mi.label2, None);
                assert!(!ext_comms(attributes)
                    .iter()
                    .any(|c| matches!(c.kind(), ExtCommunityKind::RouterMac(_))));
            }
            assert!(type5_of(&r).is_none(), "no type-5 in asymmetric IRB");
        }
    }
    // A symmetric peer's MAC+IP route: bridged (neighbour entry), never routed.
    let mut comms = red_comms(2);
    comms.push(rt(65001, 100));
    let c = remote_host(
        remote_rd(),
        VNI,
        Some(L3VNI),
        mac(2),
        "192.0.2.20",
        "198.18.0.2",
        comms,
    );
    e.remote_best_change(&c, t0);
    let batch = m.apply(&mut e);
    assert!(batch
        .iter()
        .any(|i| matches!(i, DataplaneIntent::Neighbor { .. })));
    assert!(batch.iter().all(|i| !matches!(
        i,
        DataplaneIntent::RemoteRoute { .. } | DataplaneIntent::RouterMac { .. }
    )));
    assert!(verdict(&e, &c).is_imported());
    match verdict(&e, &c) {
        ImportVerdict::BridgedOnly { vni, routed } => {
            assert_eq!(vni, VNI);
            assert_eq!(*routed, ImportVerdict::AsymmetricIrb);
        }
        v => panic!("{v:?}"),
    }
    let p = remote_prefix(
        rd_of(2),
        "203.0.113.0/24",
        "0.0.0.0",
        Esi::ZERO,
        L3VNI,
        "198.18.0.2",
        red_comms(2),
    );
    e.remote_best_change(&p, t0);
    assert!(m.apply(&mut e).is_empty());
    assert_eq!(verdict(&e, &p), ImportVerdict::AsymmetricIrb);
    assert!(!verdict(&e, &p).is_imported());
    assert!(m.routes.is_empty());
}

// ----- 3. symmetric import: host routes -----

#[test]
fn a_remote_host_route_is_installed_without_its_subnet_and_moves_with_the_host() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    // VNI 200 is not configured here: only the host route matters.
    let from2 = remote_host(
        rd_of(2),
        OTHER_VNI,
        Some(L3VNI),
        mac(7),
        "198.51.100.7",
        "198.18.0.2",
        red_comms(2),
    );
    e.remote_best_change(&from2, t0);
    let host = pfx("198.51.100.7/32");
    assert_eq!(
        m.apply(&mut e),
        vec![
            DataplaneIntent::RouterMac {
                vrf: red(),
                vtep: ip("198.18.0.2"),
                mac: rmac(2)
            },
            DataplaneIntent::RemoteRoute {
                vrf: red(),
                prefix: host,
                vtep: ip("198.18.0.2")
            },
        ]
    );
    assert_eq!(
        verdict(&e, &from2),
        ImportVerdict::ImportedIntoVrf {
            vrf: red(),
            vni: None
        }
    );
    // The host moves to VTEP 3 (sequence 1): one path at a time, the new one first.
    let mut comms = red_comms(3);
    comms.push(mobility(1, false));
    let from3 = remote_host(
        rd_of(3),
        OTHER_VNI,
        Some(L3VNI),
        mac(7),
        "198.51.100.7",
        "198.18.0.3",
        comms,
    );
    e.remote_best_change(&from3, t0);
    let batch = m.apply(&mut e);
    assert_eq!(
        batch,
        vec![
            DataplaneIntent::RouterMac {
                vrf: red(),
                vtep: ip("198.18.0.3"),
                mac: rmac(3)
            },
            DataplaneIntent::RemoteRoute {
                vrf: red(),
                prefix: host,
                vtep: ip("198.18.0.3")
            },
            DataplaneIntent::RemoveRemoteRoute {
                vrf: red(),
                prefix: host,
                vtep: ip("198.18.0.2")
            },
            DataplaneIntent::RemoveRouterMac {
                vrf: red(),
                vtep: ip("198.18.0.2")
            },
        ]
    );
    assert_eq!(m.paths("198.51.100.7/32"), vec![(true, ip("198.18.0.3"))]);
    let x = e.explain_route(red(), ip("198.51.100.7")).unwrap();
    assert_eq!(x.prefix, host);
    assert_eq!(x.contributions.len(), 2);
    assert!(x.contributions[0].installed && !x.contributions[1].installed);
    assert_eq!(x.contributions[0].vtep, Some(ip("198.18.0.3")));
    // VTEP 2 withdraws (it lost); then VTEP 3 goes too: nothing left.
    e.remote_best_change(&gone(from2), t0);
    assert!(m.apply(&mut e).is_empty());
    e.remote_best_change(&gone(from3), t0);
    m.apply(&mut e);
    assert!(m.routes.is_empty() && m.router_macs.is_empty());
    assert_eq!(e.vrf_summaries()[0].host_routes, 0);
}

#[test]
fn equal_sequences_pick_the_lower_vtep_and_a_new_router_mac_is_sent_again() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    let h = |n: u8, vtep: &str, rm: u8| {
        remote_host(
            rd_of(n),
            OTHER_VNI,
            Some(L3VNI),
            mac(7),
            "198.51.100.7",
            vtep,
            red_comms(rm),
        )
    };
    e.remote_best_change(&h(3, "198.18.0.3", 3), t0);
    e.remote_best_change(&h(2, "198.18.0.2", 2), t0);
    m.apply(&mut e);
    assert_eq!(m.paths("198.51.100.7/32"), vec![(true, ip("198.18.0.2"))]);
    e.remote_best_change(&h(2, "198.18.0.2", 9), t0);
    assert_eq!(
        m.apply(&mut e),
        vec![DataplaneIntent::RouterMac {
            vrf: red(),
            vtep: ip("198.18.0.2"),
            mac: rmac(9)
        }]
    );
}

#[test]
fn host_routes_with_a_foreign_l3vni_or_without_router_mac_are_refused() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    let wrong = remote_host(
        rd_of(2),
        OTHER_VNI,
        Some(vni(6000)),
        mac(7),
        "198.51.100.7",
        "198.18.0.2",
        red_comms(2),
    );
    e.remote_best_change(&wrong, t0);
    assert!(m.apply(&mut e).is_empty());
    let v = verdict(&e, &wrong);
    assert_eq!(
        v,
        ImportVerdict::L3vniMismatch {
            vrf: red(),
            expected: Some(L3VNI),
            label: vni(6000)
        }
    );
    assert!(v.to_string().contains("6000"), "{v}");
    let bare = remote_host(
        rd_of(2),
        OTHER_VNI,
        Some(L3VNI),
        mac(7),
        "198.51.100.7",
        "198.18.0.2",
        vec![rt(65001, 5000)],
    );
    e.remote_best_change(&bare, t0);
    assert!(m.apply(&mut e).is_empty());
    assert_eq!(verdict(&e, &bare), ImportVerdict::NoRouterMac);
    let foreign_rt = remote_host(
        rd_of(2),
        OTHER_VNI,
        Some(L3VNI),
        mac(7),
        "198.51.100.7",
        "198.18.0.2",
        vec![rt(65001, 9999), router_mac_ec(rmac(2))],
    );
    assert_eq!(
        verdict(&e, &foreign_rt).code(),
        "vrf-route-target-not-imported"
    );
    let own = remote_host(
        rd_of(2),
        OTHER_VNI,
        Some(L3VNI),
        mac(7),
        "198.51.100.7",
        "198.18.0.1",
        red_comms(2),
    );
    assert_eq!(verdict(&e, &own).code(), "own-vtep");
}

// ----- 5. type-5 origination -----

#[test]
fn ip_prefix_routes_are_originated_per_subnet_prefix_and_route_and_follow_reconfiguration() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let mut cfg = VrfConfig::new(red(), Some(L3VNI));
    cfg.advertise = vec![pfx("203.0.113.0/25")];
    cfg.routes = vec![VrfStaticRoute {
        prefix: pfx("203.0.113.128/25"),
        via: ip("192.0.2.20"),
    }];
    e.add_vrf(cfg.clone());
    assert_eq!(
        m.apply(&mut e),
        vec![DataplaneIntent::GatewayRoute {
            vrf: red(),
            prefix: pfx("203.0.113.128/25"),
            via: ip("192.0.2.20")
        }]
    );
    let routes = drain_routes(&mut e);
    let originated: Vec<&RouteChange> = routes
        .iter()
        .filter(|r| matches!(r, RouteChange::Originate { .. }))
        .collect();
    assert_eq!(originated.len(), 2, "only the new prefixes: {routes:?}");
    let rd = e.vrf(red()).unwrap().rd;
    assert_eq!(
        rd,
        RouteDistinguisher::ipv4("198.19.0.1".parse().unwrap(), 5000)
    );
    for r in originated {
        let RouteChange::Originate {
            nlri,
            attributes,
            next_hop,
        } = r
        else {
            unreachable!()
        };
        let Route::Evpn(EvpnRoute::IpPrefix(p)) = nlri.route else {
            panic!("{r:?}")
        };
        assert_eq!((p.rd, p.esi, p.ethernet_tag), (rd, Esi::ZERO, 0));
        assert!(p.gateway.is_unspecified());
        assert_eq!(p.label, L3VNI.label());
        assert_eq!(*next_hop, NextHop::from_ip(ip("198.18.0.1")));
        let comms = ext_comms(attributes);
        assert!(comms.contains(&rt(65001, 5000)));
        assert!(comms.contains(&ExtendedCommunity(ENCAP_VXLAN)));
        assert!(comms
            .iter()
            .any(|c| matches!(c.kind(), ExtCommunityKind::RouterMac(_))));
    }
    let row = e
        .vrf_route_page(Some(red()), Some((red(), pfx("203.0.113.0/25"))), 1)
        .pop()
        .unwrap();
    assert_eq!(row.origin, VrfRouteOrigin::Static);
    // Reconfigure: drop the advertised prefix, keep the route: exactly one withdrawal.
    cfg.advertise.clear();
    e.add_vrf(cfg.clone());
    assert!(m.apply(&mut e).is_empty());
    let routes = drain_routes(&mut e);
    assert_eq!(routes.len(), 1);
    assert!(matches!(routes[0], RouteChange::Withdraw { .. }));
    assert_eq!(type5_of(&routes[0]).unwrap().prefix_len, 25);
    // Drop the route: it leaves the table and its route is withdrawn.
    cfg.routes.clear();
    e.add_vrf(cfg);
    assert_eq!(
        m.apply(&mut e),
        vec![DataplaneIntent::RemoveGatewayRoute {
            vrf: red(),
            prefix: pfx("203.0.113.128/25"),
            via: ip("192.0.2.20")
        }]
    );
    assert_eq!(drain_routes(&mut e).len(), 1);
}

// ----- 6. type-5 import -----

#[test]
fn one_prefix_from_two_vteps_is_an_ecmp_route_and_a_withdrawal_removes_its_path_only() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    let p = |n: u8| {
        remote_prefix(
            rd_of(n),
            "203.0.113.0/24",
            "0.0.0.0",
            Esi::ZERO,
            L3VNI,
            &format!("198.18.0.{n}"),
            red_comms(n),
        )
    };
    e.remote_best_change(&p(2), t0);
    e.remote_best_change(&p(3), t0);
    m.apply(&mut e);
    assert_eq!(
        m.paths("203.0.113.0/24"),
        vec![(true, ip("198.18.0.2")), (true, ip("198.18.0.3"))]
    );
    let row = e.vrf_route_page(Some(red()), None, 10);
    let row = row
        .iter()
        .find(|r| r.prefix == pfx("203.0.113.0/24"))
        .unwrap();
    assert_eq!(row.origin, VrfRouteOrigin::IpPrefix);
    assert_eq!(row.paths.len(), 2);
    assert_eq!(e.vrf_summaries()[0].prefix_routes, 1);
    assert_eq!(e.vrf_summaries()[0].remote_vteps, 2);
    e.remote_best_change(&gone(p(2)), t0);
    assert_eq!(
        m.apply(&mut e),
        vec![
            DataplaneIntent::RemoveRemoteRoute {
                vrf: red(),
                prefix: pfx("203.0.113.0/24"),
                vtep: ip("198.18.0.2")
            },
            DataplaneIntent::RemoveRouterMac {
                vrf: red(),
                vtep: ip("198.18.0.2")
            },
        ]
    );
    assert_eq!(m.paths("203.0.113.0/24"), vec![(true, ip("198.18.0.3"))]);
}

#[test]
fn a_remote_copy_of_a_local_subnet_is_shadowed_by_the_connected_route() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let c = remote_prefix(
        rd_of(2),
        "192.0.2.0/24",
        "0.0.0.0",
        Esi::ZERO,
        L3VNI,
        "198.18.0.2",
        red_comms(2),
    );
    e.remote_best_change(&c, Instant::now());
    assert!(m.apply(&mut e).is_empty());
    let x = e.explain_route(red(), ip("192.0.2.99")).unwrap();
    assert_eq!(x.installed.unwrap().origin, VrfRouteOrigin::Connected);
    assert_eq!(x.contributions.len(), 2);
    assert!(x
        .contributions
        .iter()
        .any(|c| c.origin == VrfRouteOrigin::IpPrefix && !c.installed));
}

#[test]
fn type5_refusals_name_the_rule() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    let wrong_label = remote_prefix(
        rd_of(2),
        "203.0.113.0/24",
        "0.0.0.0",
        Esi::ZERO,
        vni(6000),
        "198.18.0.2",
        red_comms(2),
    );
    e.remote_best_change(&wrong_label, t0);
    assert_eq!(verdict(&e, &wrong_label).code(), "l3vni-mismatch");
    let no_rmac = remote_prefix(
        rd_of(2),
        "203.0.113.0/24",
        "0.0.0.0",
        Esi::ZERO,
        L3VNI,
        "198.18.0.2",
        vec![rt(65001, 5000)],
    );
    e.remote_best_change(&no_rmac, t0);
    assert_eq!(verdict(&e, &no_rmac), ImportVerdict::NoRouterMac);
    let esi = remote_prefix(
        rd_of(2),
        "203.0.113.0/24",
        "0.0.0.0",
        Esi([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        L3VNI,
        "198.18.0.2",
        red_comms(2),
    );
    e.remote_best_change(&esi, t0);
    assert_eq!(verdict(&e, &esi), ImportVerdict::NeedsMultihoming);
    assert!(m.apply(&mut e).is_empty());
    assert!(e.explain_route(red(), ip("203.0.113.1")).is_none());
}

#[test]
fn a_gw_ip_overlay_index_resolves_through_the_host_route_of_the_gateway_and_follows_it() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    // A type-5 with GW IP 198.51.100.7 (no router MAC needed): nothing yet.
    let p = remote_prefix(
        rd_of(4),
        "203.0.113.0/24",
        "198.51.100.7",
        Esi::ZERO,
        L3VNI,
        "198.18.0.4",
        vec![rt(65001, 5000)],
    );
    e.remote_best_change(&p, t0);
    assert!(m.apply(&mut e).is_empty());
    let x = e.explain_route(red(), ip("203.0.113.9")).unwrap();
    assert!(x.installed.is_none());
    assert_eq!(
        x.contributions[0].overlay,
        Some(OverlayResolution::Unresolved {
            gateway: ip("198.51.100.7")
        })
    );
    // The gateway's type-2 arrives: the prefix follows its VTEP and router MAC.
    let gw = remote_host(
        rd_of(3),
        OTHER_VNI,
        Some(L3VNI),
        mac(7),
        "198.51.100.7",
        "198.18.0.3",
        red_comms(3),
    );
    e.remote_best_change(&gw, t0);
    m.apply(&mut e);
    assert_eq!(m.paths("203.0.113.0/24"), vec![(true, ip("198.18.0.3"))]);
    assert_eq!(m.paths("198.51.100.7/32"), vec![(true, ip("198.18.0.3"))]);
    let x = e.explain_route(red(), ip("203.0.113.9")).unwrap();
    assert_eq!(
        x.contributions[0].overlay,
        Some(OverlayResolution::HostRoute {
            gateway: ip("198.51.100.7"),
            vtep: ip("198.18.0.3"),
            router_mac: rmac(3)
        })
    );
    assert_eq!(
        x.contributions[0].vtep,
        Some(ip("198.18.0.4")),
        "who advertised it"
    );
    // The type-2 goes: so does the prefix, and then the router MAC.
    e.remote_best_change(&gone(gw), t0);
    let batch = m.apply(&mut e);
    assert_eq!(
        batch.last(),
        Some(&DataplaneIntent::RemoveRouterMac {
            vrf: red(),
            vtep: ip("198.18.0.3")
        })
    );
    assert!(m.routes.is_empty());
    // And the type-5 withdrawal leaves nothing behind.
    e.remote_best_change(&gone(p), t0);
    assert!(m.apply(&mut e).is_empty());
    assert!(e.explain_route(red(), ip("203.0.113.9")).is_none());
}

#[test]
fn a_gw_ip_on_a_local_subnet_resolves_through_its_neighbour_binding() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    let p = remote_prefix(
        rd_of(4),
        "203.0.113.0/24",
        "192.0.2.20",
        Esi::ZERO,
        L3VNI,
        "198.18.0.4",
        vec![rt(65001, 5000)],
    );
    e.remote_best_change(&p, t0);
    assert!(m.apply(&mut e).is_empty());
    // A tenant router at 192.0.2.20 attaches locally on VNI 100.
    attach(&mut e, VNI, mac(20), Some(ip("192.0.2.20")), false, t0).unwrap();
    m.apply(&mut e);
    assert_eq!(m.paths("203.0.113.0/24"), vec![(false, ip("192.0.2.20"))]);
    let x = e.explain_route(red(), ip("203.0.113.9")).unwrap();
    assert_eq!(
        x.contributions[0].overlay,
        Some(OverlayResolution::LocalSubnet {
            gateway: ip("192.0.2.20"),
            vni: VNI
        })
    );
    detach(&mut e, VNI, mac(20), None);
    let batch = m.apply(&mut e);
    assert!(batch.contains(&DataplaneIntent::RemoveGatewayRoute {
        vrf: red(),
        prefix: pfx("203.0.113.0/24"),
        via: ip("192.0.2.20")
    }));
    assert!(m.routes.is_empty());
}

// ----- 7. VRF removal -----

#[test]
fn removing_a_vrf_withdraws_its_routes_then_router_macs_then_the_vrf() {
    let mut config = EngineConfig::new(ASN, "198.19.0.1".parse().unwrap(), ip("198.18.0.1"));
    config.irb = IrbMode::Symmetric;
    let mut e = Engine::new(config);
    let mut m = Mirror::default();
    let mut cfg = VrfConfig::new(red(), Some(L3VNI));
    cfg.advertise = vec![pfx("203.0.113.0/25")];
    cfg.routes = vec![VrfStaticRoute {
        prefix: pfx("203.0.113.128/25"),
        via: ip("198.51.100.1"),
    }];
    e.add_vrf(cfg);
    let t0 = Instant::now();
    for n in [2u8, 3] {
        let c = remote_prefix(
            rd_of(n),
            "198.51.100.0/24",
            "0.0.0.0",
            Esi::ZERO,
            L3VNI,
            &format!("198.18.0.{n}"),
            red_comms(n),
        );
        e.remote_best_change(&c, t0);
    }
    let h = remote_host(
        rd_of(2),
        OTHER_VNI,
        Some(L3VNI),
        mac(7),
        "198.51.100.7",
        "198.18.0.2",
        red_comms(2),
    );
    e.remote_best_change(&h, t0);
    m.apply(&mut e);
    drain_routes(&mut e);
    assert_eq!(m.routes.len(), 3);
    e.remove_vrf(red());
    let batch = m.apply(&mut e);
    assert_eq!(
        batch.last(),
        Some(&DataplaneIntent::RemoveVrf { vrf: red() })
    );
    assert!(m.vrfs.is_empty() && m.routes.is_empty() && m.router_macs.is_empty());
    let withdrawn = drain_routes(&mut e);
    assert_eq!(withdrawn.len(), 2, "both prefix routes");
    assert!(withdrawn
        .iter()
        .all(|r| matches!(r, RouteChange::Withdraw { .. })));
    assert!(e.vrf_route_page(None, None, 10).is_empty());
    // The routes are forgotten: a withdrawal now changes nothing.
    e.remote_best_change(&gone(h), t0);
    assert!(m.apply(&mut e).is_empty());
}

// ----- 8, 9. views and RT-Constraint -----

#[test]
fn route_pages_follow_the_cursor_and_import_targets_include_vrfs() {
    let (mut e, _) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    for n in 1..=5u8 {
        let c = remote_host(
            rd_of(2),
            OTHER_VNI,
            Some(L3VNI),
            mac(n),
            &format!("198.51.100.{n}"),
            "198.18.0.2",
            red_comms(2),
        );
        e.remote_best_change(&c, t0);
    }
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = e.vrf_route_page(Some(red()), after, 3);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| (r.vrf, r.prefix));
        all.extend(page);
    }
    assert_eq!(all.len(), 7, "2 connected + 5 hosts");
    assert!(all.windows(2).all(|w| w[0].prefix < w[1].prefix));
    let other = VrfName::new("blue").unwrap();
    assert!(e.vrf_route_page(Some(other), None, 10).is_empty());
    let summary = &e.vrf_summaries()[0];
    assert_eq!((summary.host_routes, summary.remote_vteps), (5, 1));
    let x = e.explain_route(red(), ip("198.51.100.3")).unwrap();
    assert_eq!(x.prefix, pfx("198.51.100.3/32"));
    assert!(e.explain_route(red(), ip("203.0.113.1")).is_none());
    let targets: Vec<&ImportTarget> = e.import_targets().collect();
    assert!(targets.contains(&&ImportTarget::Exact(RouteTarget::As2 {
        asn: 65001,
        value: 5000
    })));
    assert!(targets.contains(&&ImportTarget::Exact(RouteTarget::As2 {
        asn: 65001,
        value: 100
    })));
}

// ----- two NVEs through a real RIB -----

/// NVE `n` (router id 198.19.0.n, VTEP 198.18.0.n) with VRF red and `vni` holding `gateway`.
fn nve(n: u8, vni: Vni, gateway: &str) -> Engine {
    let rid = Ipv4Addr::new(198, 19, 0, n);
    let mut e = Engine::new(EngineConfig::new(
        ASN,
        rid,
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
    ));
    e.add_vrf(VrfConfig::new(red(), Some(L3VNI)));
    let mut evi = EviConfig::new(vni);
    evi.vrf = Some(red());
    let (address, len) = gateway.split_once('/').unwrap();
    evi.gateways = vec![GatewayAddress {
        address: ip(address),
        prefix_len: len.parse().unwrap(),
    }];
    e.add_evi(evi);
    e
}

#[test]
fn symmetric_fabric_through_a_rib_routes_to_a_subnet_that_is_not_local() {
    let now = Instant::now();
    let mut a = nve(1, VNI, "192.0.2.254/24");
    let mut c = nve(3, OTHER_VNI, "198.51.100.254/24");
    let (mut ma, mut mc) = (Mirror::default(), Mirror::default());
    ma.apply(&mut a);
    mc.apply(&mut c);
    attach(&mut a, VNI, mac(1), Some(ip("192.0.2.10")), false, now).unwrap();
    let mut rib_a = Rib::new(RibConfig::new(ASN, Ipv4Addr::new(198, 19, 0, 1)));
    feed_rib(&mut rib_a, &mut a);
    for ch in rib_a.poll_best_changes() {
        c.remote_best_change(&ch, now);
        a.remote_best_change(&ch, now);
    }
    ma.apply(&mut a);
    mc.apply(&mut c);
    assert!(ma.routes.is_empty(), "A ignores its own routes");
    // C has no VNI 100, yet reaches the host and its subnet over the L3VNI.
    let a_rmac = auto_router_mac(Ipv4Addr::new(198, 19, 0, 1));
    assert_eq!(
        mc.router_macs.get(&(red(), ip("198.18.0.1"))),
        Some(&a_rmac)
    );
    assert_eq!(mc.paths("192.0.2.10/32"), vec![(true, ip("198.18.0.1"))]);
    assert_eq!(mc.paths("192.0.2.0/24"), vec![(true, ip("198.18.0.1"))]);
    assert!(c.mac_table(VNI).is_empty());
    // A removes its EVI: C's routes and A's router MAC go.
    a.remove_evi(VNI);
    feed_rib(&mut rib_a, &mut a);
    for ch in rib_a.poll_best_changes() {
        c.remote_best_change(&ch, now);
    }
    mc.apply(&mut c);
    assert!(mc.routes.is_empty() && mc.router_macs.is_empty());
}

#[test]
fn without_vrfs_a_symmetric_peer_route_keeps_its_layer2_verdict() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let mut comms = red_comms(2);
    comms.push(rt(65001, 100));
    let c = remote_host(
        remote_rd(),
        VNI,
        Some(L3VNI),
        mac(2),
        "192.0.2.20",
        "198.18.0.2",
        comms,
    );
    assert_eq!(verdict(&e, &c), ImportVerdict::Imported { vni: VNI });
    e.remote_best_change(&c, Instant::now());
    assert_eq!(e.mac_table(VNI).len(), 1);
}

/// RFC 7432 §7.8, §10.1: another NVE advertising our own gateway address (with its own MAC and
/// the Default Gateway community) gives neither a proxy ARP/ND binding nor a host route here;
/// its MAC is still bridged. A binding imported before the address became ours goes when it
/// does.
#[test]
fn another_nves_route_for_our_gateway_address_is_bridged_but_never_bound_or_routed() {
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let t0 = Instant::now();
    let mut comms = red_comms(2);
    comms.push(rt(65001, VNI.get()));
    comms.push(ExtendedCommunity::new(ExtCommunityKind::DefaultGateway));
    let theirs = remote_host(
        rd_of(2),
        VNI,
        Some(L3VNI),
        mac(9),
        "192.0.2.254",
        "198.18.0.2",
        comms,
    );
    e.remote_best_change(&theirs, t0);
    let batch = m.apply(&mut e);
    assert!(
        batch
            .iter()
            .any(|i| matches!(i, DataplaneIntent::RemoteMac { mac: m, .. } if *m == mac(9))),
        "the MAC is bridged: {batch:?}"
    );
    assert!(
        !batch.iter().any(|i| matches!(
            i,
            DataplaneIntent::Neighbor { .. } | DataplaneIntent::RemoteRoute { .. }
        )),
        "no binding and no host route for our own gateway address: {batch:?}"
    );
    assert_eq!(
        verdict(&e, &theirs),
        ImportVerdict::BridgedOnly {
            vni: VNI,
            routed: Box::new(ImportVerdict::OwnGateway {
                ip: ip("192.0.2.254")
            }),
        }
    );
    assert!(e.neighbors(VNI).iter().all(|n| n.ip != ip("192.0.2.254")));

    // Without the gateway the same address is an ordinary tenant binding; when the gateway is
    // configured afterwards, the binding goes.
    let (mut e, mut m) = l3_engine(IrbMode::Symmetric);
    let mut bridged = EviConfig::new(VNI);
    bridged.vrf = Some(red());
    e.add_evi(bridged.clone());
    m.apply(&mut e);
    e.remote_best_change(&theirs, t0);
    let batch = m.apply(&mut e);
    assert!(
        batch.iter().any(
            |i| matches!(i, DataplaneIntent::Neighbor { ip: a, .. } if *a == ip("192.0.2.254"))
        ),
        "an ordinary binding without the gateway: {batch:?}"
    );
    bridged.gateways = vec![GatewayAddress {
        address: ip("192.0.2.254"),
        prefix_len: 24,
    }];
    e.add_evi(bridged);
    let batch = m.apply(&mut e);
    assert!(
        batch.iter().any(|i| matches!(i, DataplaneIntent::RemoveNeighbor { ip: a, .. } if *a == ip("192.0.2.254"))),
        "the binding goes when the address becomes our gateway: {batch:?}"
    );
    assert!(e.neighbors(VNI).iter().all(|n| n.ip != ip("192.0.2.254")));
}
