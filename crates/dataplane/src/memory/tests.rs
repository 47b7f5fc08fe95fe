use super::*;
use crate::NoDataplane;

fn mac(n: u8) -> MacAddress {
    MacAddress([2, 0, 0, 0, 0, n])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

#[test]
fn deltas_apply_exactly_and_a_move_re_points_in_place() {
    let mut d = MemoryDataplane::default();
    let (a, b) = (ip("198.19.0.2"), ip("198.19.0.3"));
    let v = vni(100);
    d.apply(&DataplaneIntent::Vni { vni: v, vrf: None })
        .unwrap();
    d.apply(&DataplaneIntent::RemoteMac {
        vni: v,
        mac: mac(1),
        vtep: a,
        sticky: false,
    })
    .unwrap();
    d.apply(&DataplaneIntent::RemoteMac {
        vni: v,
        mac: mac(1),
        vtep: b,
        sticky: true,
    })
    .unwrap();
    assert_eq!(
        d.fdb.get(&(v, mac(1))),
        Some(&FdbEntry {
            vtep: b,
            sticky: true
        })
    );
    d.apply(&DataplaneIntent::Flood { vni: v, vtep: a })
        .unwrap();
    d.apply(&DataplaneIntent::Flood { vni: v, vtep: b })
        .unwrap();
    assert_eq!(d.flood[&v].len(), 2);
    d.apply(&DataplaneIntent::Neighbor {
        vni: v,
        ip: ip("192.0.2.1"),
        mac: mac(1),
        router: false,
        local: false,
    })
    .unwrap();
    for i in [
        DataplaneIntent::RemoveRemoteMac {
            vni: v,
            mac: mac(1),
        },
        DataplaneIntent::RemoveFlood { vni: v, vtep: a },
        DataplaneIntent::RemoveFlood { vni: v, vtep: b },
        DataplaneIntent::RemoveNeighbor {
            vni: v,
            ip: ip("192.0.2.1"),
        },
    ] {
        d.apply(&i).unwrap();
    }
    d.apply(&DataplaneIntent::RemoveVni { vni: v }).unwrap();
    assert!(d.is_empty());
    assert_eq!((d.applied, d.errors), (11, 0));
}

#[test]
fn inconsistent_deltas_are_refused_and_counted() {
    let mut d = MemoryDataplane::default();
    let a = ip("198.19.0.2");
    let v = vni(100);
    let flood = DataplaneIntent::Flood { vni: v, vtep: a };
    assert!(d.apply(&flood).is_err(), "an entry of an unknown VNI");
    d.apply(&DataplaneIntent::Vni { vni: v, vrf: None })
        .unwrap();
    assert!(d
        .apply(&DataplaneIntent::Vni { vni: v, vrf: None })
        .is_err());
    let refused = [
        DataplaneIntent::RemoveRemoteMac {
            vni: v,
            mac: mac(1),
        },
        DataplaneIntent::RemoveFlood { vni: v, vtep: a },
        DataplaneIntent::RemoveNeighbor {
            vni: v,
            ip: ip("192.0.2.1"),
        },
    ];
    for i in refused {
        assert_eq!(d.apply(&i), Err(Inconsistent { intent: i }));
    }
    d.apply(&DataplaneIntent::Flood { vni: v, vtep: a })
        .unwrap();
    let twice = DataplaneIntent::Flood { vni: v, vtep: a };
    let e = d.apply(&twice).unwrap_err();
    assert!(e.to_string().contains("already there"), "{e}");
    assert_eq!(d.errors, 6);
    let port = PortName::new("veth-a").unwrap();
    d.apply(&DataplaneIntent::Port { vni: v, port }).unwrap();
    assert!(d.apply(&DataplaneIntent::Port { vni: v, port }).is_err());
    assert!(
        d.apply(&DataplaneIntent::RemoveVni { vni: v }).is_err(),
        "a VNI that still holds a port and a flood entry"
    );
    d.apply(&DataplaneIntent::RemovePort { vni: v, port })
        .unwrap();
    assert_eq!(d.errors, 8);
    // A removal in another VNI leaves this one alone.
    assert!(d
        .apply(&DataplaneIntent::RemoveFlood {
            vni: vni(200),
            vtep: a
        })
        .is_err());
    assert_eq!(d.flood[&v].len(), 1);
    assert_eq!(d.tables().errors, 0, "tables() drops the counters");
}

#[test]
fn none_keeps_nothing() {
    let mut d = NoDataplane;
    d.apply(&DataplaneIntent::Flood {
        vni: vni(1),
        vtep: ip("198.19.0.2"),
    })
    .unwrap();
    assert!(d.memory().is_none());
    assert_eq!(d.kind(), "none");
}

/// The inline path set behaves as the ordered set it replaced: in order, each once,
/// canonical (equal whatever the history), removals down to none.
#[test]
fn route_paths_are_an_ordered_set() {
    let (a, b, c) = (
        RoutePath::Remote(ip("198.18.0.2")),
        RoutePath::Remote(ip("198.18.0.1")),
        RoutePath::Gateway(ip("192.0.2.20")),
    );
    let mut set = RoutePaths::default();
    assert!(set.is_empty() && set.as_slice().is_empty());
    assert!(set.insert(a) && !set.insert(a));
    assert_eq!(set.as_slice(), [a]);
    assert!(set.insert(c) && set.insert(b) && !set.insert(b));
    let model: std::collections::BTreeSet<RoutePath> = [a, b, c].into();
    assert_eq!(
        set.iter().copied().collect::<Vec<_>>(),
        model.iter().copied().collect::<Vec<_>>()
    );
    assert_eq!(set.len(), 3);
    assert!(set.contains(&c));
    assert_eq!(set, [c, b, a].into_iter().collect::<RoutePaths>());
    assert!(set.remove(&b) && !set.remove(&b));
    assert!(set.remove(&c));
    assert_eq!(set, [a].into_iter().collect::<RoutePaths>());
    assert!(!set.contains(&c));
    assert!(set.remove(&a) && set.is_empty() && !set.remove(&a));
    assert_eq!(set, RoutePaths::default());
}

/// `apply_route` applies exactly what `apply` does (same tables, same refusals, same
/// counters) and answers the route's paths after each change.
#[test]
fn apply_route_matches_apply_and_answers_the_paths() {
    let red = VrfName::new("red").unwrap();
    let p = |s: &str| {
        let (a, l) = s.split_once('/').unwrap();
        IpPrefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    };
    let (v1, v2, gw) = (ip("198.18.0.1"), ip("198.18.0.2"), ip("192.0.2.20"));
    let (p1, p2) = (p("203.0.113.0/24"), p("198.51.100.0/25"));
    let intents = [
        DataplaneIntent::RemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v1,
        }, // no VRF yet
        DataplaneIntent::Vrf {
            vrf: red,
            l3vni: Some(vni(5000)),
            router_mac: mac(1),
        },
        DataplaneIntent::RemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v1,
        }, // no router MAC
        DataplaneIntent::RouterMac {
            vrf: red,
            vtep: v1,
            mac: mac(2),
        },
        DataplaneIntent::RouterMac {
            vrf: red,
            vtep: v2,
            mac: mac(3),
        },
        DataplaneIntent::RemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v1,
        },
        DataplaneIntent::RemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v1,
        }, // there
        DataplaneIntent::RemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v2,
        },
        DataplaneIntent::GatewayRoute {
            vrf: red,
            prefix: p2,
            via: gw,
        },
        DataplaneIntent::RemoveRemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v1,
        },
        DataplaneIntent::RemoveRemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v1,
        }, // gone
        DataplaneIntent::RemoveGatewayRoute {
            vrf: red,
            prefix: p2,
            via: gw,
        },
        DataplaneIntent::RemoveRemoteRoute {
            vrf: red,
            prefix: p1,
            vtep: v2,
        },
    ];
    let (mut plain, mut routed) = (MemoryDataplane::default(), MemoryDataplane::default());
    for i in &intents {
        let expected = plain.apply(i);
        let got = match routed.apply_route(i) {
            Ok(None) => routed.apply(i).map(|()| None),
            other => other,
        };
        assert_eq!(expected.is_ok(), got.is_ok(), "{i:?}");
        if let Ok(Some(paths)) = got {
            let (DataplaneIntent::RemoteRoute { vrf, prefix, .. }
            | DataplaneIntent::RemoveRemoteRoute { vrf, prefix, .. }
            | DataplaneIntent::GatewayRoute { vrf, prefix, .. }
            | DataplaneIntent::RemoveGatewayRoute { vrf, prefix, .. }) = *i
            else {
                panic!("paths answered for {i:?}");
            };
            let held = plain
                .routes
                .get(&(vrf, prefix))
                .cloned()
                .unwrap_or_default();
            assert_eq!(paths, held, "{i:?}");
        }
        assert_eq!(plain, routed, "{i:?}");
    }
    assert_eq!((plain.applied, plain.errors), (13, 4));
}
