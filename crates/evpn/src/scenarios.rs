//! Deterministic scenarios: engines joined by the in-memory fabric of [`crate::sim`] on a
//! virtual clock. Expected outcomes follow RFC 7432 §15 (mobility, sticky, duplicates) and
//! RFC 9161 / RFC 9047 (proxy ARP/ND), not our own output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sim::{mac, vni, vtep, Fabric, ASN, VNI};
use crate::*;
use evpnd_wire::{ExtCommunityKind, PathAttribute};
use std::net::IpAddr;
use std::time::Duration;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fabric(n: usize) -> Fabric {
    fabric_with(n, DuplicateDetection::default())
}

fn fabric_with(n: usize, dd: DuplicateDetection) -> Fabric {
    let mut f = Fabric::new(n, dd);
    for i in 0..n {
        f.add_vni(i, VNI);
    }
    f.settle();
    f
}

/// Asserts every node has `m` at `owner` (node index) with `seq`; the owner as local.
fn assert_everyone_sees(f: &Fabric, m: evpnd_wire::MacAddress, owner: usize, seq: u32) {
    for i in 0..f.nodes.len() {
        let e = f
            .location(i, VNI, m)
            .unwrap_or_else(|| panic!("node {i} lacks {m}"));
        let want = if i == owner {
            Location::Local
        } else {
            Location::Remote { vtep: vtep(owner) }
        };
        assert_eq!(e.origin, want, "node {i}");
        assert_eq!(e.sequence, seq, "node {i} sequence");
        f.check_dataplane(i, &[VNI]);
    }
}

/// The MAC mobility community of node `i`'s latest origination of `m` (MAC-only route).
fn advertised_mobility(f: &Fabric, i: usize, m: evpnd_wire::MacAddress) -> Option<(u32, bool)> {
    f.nodes[i].routes.iter().rev().find_map(|r| match r {
        RouteChange::Originate {
            nlri, attributes, ..
        } => match &nlri.route {
            evpnd_wire::Route::Evpn(evpnd_wire::EvpnRoute::MacIp(x))
                if x.mac == m && x.ip.is_none() =>
            {
                Some(
                    attributes
                        .iter()
                        .find_map(|a| match a {
                            PathAttribute::ExtendedCommunities(c) => {
                                c.iter().find_map(|c| match c.kind() {
                                    ExtCommunityKind::MacMobility { sequence, sticky } => {
                                        Some((sequence, sticky))
                                    }
                                    _ => None,
                                })
                            }
                            _ => None,
                        })
                        .unwrap_or((0, false)),
                )
            }
            _ => None,
        },
        RouteChange::Withdraw { .. } => None,
    })
}

/// True when node `i` currently advertises the MAC-only route of `m`.
fn advertises(f: &Fabric, i: usize, m: evpnd_wire::MacAddress) -> bool {
    f.nodes[i]
        .rib
        .loc_rib(evpnd_wire::Family::L2VPN_EVPN)
        .any(|(r, _)| {
            matches!(r, evpnd_wire::Route::Evpn(evpnd_wire::EvpnRoute::MacIp(x)) if x.mac == m && x.ip.is_none())
        })
}

#[test]
fn learn_and_withdraw_across_three_nodes() {
    let mut f = fabric(3);
    // Every node floods to the two others.
    for i in 0..3 {
        let want: Vec<IpAddr> = (0..3).filter(|j| *j != i).map(vtep).collect();
        assert_eq!(f.nodes[i].engine.flood_list(VNI), want);
    }
    f.attach(0, Attachment::new(VNI, mac(1), Some(ip("192.0.2.1"))));
    f.attach_mac(1, VNI, mac(2));
    f.settle();
    assert_everyone_sees(&f, mac(1), 0, 0);
    assert_everyone_sees(&f, mac(2), 1, 0);
    // Node 2 answers ARP for 192.0.2.1 with node 0's MAC.
    let n = f.nodes[2].engine.neighbors(VNI);
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].ip, n[0].mac), (ip("192.0.2.1"), mac(1)));
    assert_eq!(n[0].origin, Location::Remote { vtep: vtep(0) });
    f.detach(0, VNI, mac(1), None);
    f.detach(1, VNI, mac(2), None);
    f.settle();
    for i in 0..3 {
        assert!(f.nodes[i].engine.mac_table(VNI).is_empty(), "node {i}");
        assert!(f.nodes[i].engine.neighbors(VNI).is_empty(), "node {i}");
        f.check_dataplane(i, &[VNI]);
        assert!(f.nodes[i].dp.fdb.is_empty() && f.nodes[i].dp.neigh.is_empty());
    }
}

#[test]
fn move_a_to_b_advertises_sequence_plus_one_and_the_old_owner_withdraws() {
    let mut f = fabric(3);
    f.attach(0, Attachment::new(VNI, mac(1), Some(ip("192.0.2.1"))));
    f.settle();
    f.take_events(0);
    // The VM shows up on node 1 (the orchestrator has not detached it from node 0 yet).
    f.attach(1, Attachment::new(VNI, mac(1), Some(ip("192.0.2.1"))));
    assert_eq!(advertised_mobility(&f, 1, mac(1)), Some((1, false)));
    f.settle();
    assert_everyone_sees(&f, mac(1), 1, 1);
    assert!(!advertises(&f, 0, mac(1)), "old owner withdrew");
    assert!(f.take_events(0).contains(&EngineEvent::Moved {
        vni: VNI,
        mac: mac(1),
        from: Location::Local,
        to: Location::Remote { vtep: vtep(1) },
        sequence: 1,
    }));
    // The IP binding follows the MAC everywhere.
    for i in [0, 2] {
        let n = f.nodes[i].engine.neighbors(VNI);
        assert_eq!(n[0].origin, Location::Remote { vtep: vtep(1) }, "node {i}");
    }
    // A late detach on the old owner changes nothing.
    f.detach(0, VNI, mac(1), None);
    f.settle();
    assert_everyone_sees(&f, mac(1), 1, 1);
}

#[test]
fn move_a_to_b_to_a_keeps_counting_up() {
    let mut f = fabric(3);
    f.attach_mac(0, VNI, mac(1));
    f.settle();
    f.attach_mac(1, VNI, mac(1));
    f.settle();
    f.attach_mac(0, VNI, mac(1));
    f.settle();
    assert_everyone_sees(&f, mac(1), 0, 2);
    assert_eq!(advertised_mobility(&f, 0, mac(1)), Some((2, false)));
    assert!(!advertises(&f, 1, mac(1)));
}

#[test]
fn simultaneous_learn_on_two_vteps_goes_to_the_lower_vtep() {
    let mut f = fabric(3);
    // Both learn before either hears of the other: equal sequence numbers (0).
    f.attach_mac(2, VNI, mac(7));
    f.attach_mac(1, VNI, mac(7));
    f.settle();
    // Node 1 (198.18.0.2) has the lower VTEP address than node 2 (198.18.0.3).
    assert_everyone_sees(&f, mac(7), 1, 0);
    assert!(!advertises(&f, 2, mac(7)));
}

#[test]
fn a_higher_sequence_from_another_vtep_takes_over_even_when_received_late() {
    let mut f = fabric(2);
    f.attach_mac(0, VNI, mac(3));
    f.settle();
    f.attach_mac(1, VNI, mac(3)); // seq 1
                                  // Before node 1's route arrives, node 0 sees nothing new; after it, node 0 gives up.
    assert_eq!(f.location(0, VNI, mac(3)).unwrap().origin, Location::Local);
    assert!(f.has_pending());
    f.settle();
    assert_eq!(
        f.location(0, VNI, mac(3)).unwrap().origin,
        Location::Remote { vtep: vtep(1) }
    );
}

#[test]
fn sticky_mac_never_moves_and_a_conflicting_claim_raises_an_alarm() {
    let mut f = fabric(3);
    let mut a = Attachment::new(VNI, mac(5), None);
    a.sticky = true;
    f.attach(0, a);
    f.settle();
    assert_eq!(advertised_mobility(&f, 0, mac(5)), Some((0, true)));
    // The remote FDB entries are static.
    assert_eq!(f.nodes[2].dp.fdb[&(VNI, mac(5))], (vtep(0), true));
    // Node 1 learns the same MAC: not advertised, not installed, alarm.
    f.attach_mac(1, VNI, mac(5));
    f.settle();
    assert!(!advertises(&f, 1, mac(5)));
    let e = f.location(1, VNI, mac(5)).unwrap();
    assert_eq!(e.origin, Location::Remote { vtep: vtep(0) });
    assert!(e.sticky && e.sticky_conflict);
    assert!(f.take_events(1).contains(&EngineEvent::StickyConflict {
        vni: VNI,
        mac: mac(5),
        sticky_at: Location::Remote { vtep: vtep(0) },
        claimed_at: Location::Local,
    }));
    for i in [0, 2] {
        let e = f.location(i, VNI, mac(5)).unwrap();
        assert_eq!(
            e.origin,
            if i == 0 {
                Location::Local
            } else {
                Location::Remote { vtep: vtep(0) }
            }
        );
        f.check_dataplane(i, &[VNI]);
    }
    // The sticky owner sees a conflict too when a non-sticky route claims its MAC: node 1
    // gets a sticky MAC of its own and a remote claim with a higher sequence is injected.
    let mut s = Attachment::new(VNI, mac(6), None);
    s.sticky = true;
    f.attach(1, s);
    f.settle();
    f.attach_mac(2, VNI, mac(6));
    f.settle();
    assert_eq!(f.location(1, VNI, mac(6)).unwrap().origin, Location::Local);
    assert!(advertises(&f, 1, mac(6)));
    // Once the sticky owner lets go, the dormant local claim elsewhere takes over.
    f.detach(0, VNI, mac(5), None);
    f.settle();
    assert_eq!(f.location(1, VNI, mac(5)).unwrap().origin, Location::Local);
    assert!(advertises(&f, 1, mac(5)));
    assert_eq!(
        f.location(2, VNI, mac(5)).unwrap().origin,
        Location::Remote { vtep: vtep(1) }
    );
}

/// Ping-pongs `m` between nodes 0 and 1, one move at each of `times` (seconds).
fn ping_pong(f: &mut Fabric, m: evpnd_wire::MacAddress, times: &[f64]) {
    for (k, t) in times.iter().enumerate() {
        f.at(*t);
        f.attach_mac((k + 1) % 2, VNI, m);
        f.settle();
    }
}

fn frozen_subjects(events: &[EngineEvent]) -> Vec<Subject> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Duplicate { subject, .. } => Some(*subject),
            _ => None,
        })
        .collect()
}

#[test]
fn duplicate_detection_triggers_at_exactly_the_nth_move_inside_the_window() {
    let mut f = fabric(2);
    f.attach_mac(0, VNI, mac(1));
    f.settle();
    // Four moves inside 180 s: not yet a duplicate anywhere.
    ping_pong(&mut f, mac(1), &[10.0, 50.0, 90.0, 130.0]);
    for i in 0..2 {
        assert!(frozen_subjects(&f.nodes[i].events).is_empty(), "node {i}");
        assert_eq!(f.location(i, VNI, mac(1)).unwrap().moves, 4);
    }
    // The fifth, 179 s after the first: node 1 (where it lands) detects it.
    f.at(189.0);
    f.attach_mac(1, VNI, mac(1));
    f.settle();
    assert_eq!(
        frozen_subjects(&f.nodes[1].events),
        vec![Subject::Mac(mac(1))]
    );
    let e = f.location(1, VNI, mac(1)).unwrap();
    assert!(matches!(
        e.duplicate,
        DuplicateState::Frozen { until: Some(_) }
    ));
    // Frozen at node 1 (local there), not advertised; node 0 never saw the fifth move.
    assert_eq!(e.origin, Location::Local);
    assert!(!advertises(&f, 1, mac(1)));
    assert!(frozen_subjects(&f.nodes[0].events).is_empty());
    // Further moves are not processed while frozen.
    f.attach_mac(0, VNI, mac(1));
    f.settle();
    assert_eq!(f.location(1, VNI, mac(1)).unwrap().origin, Location::Local);
}

#[test]
fn moves_spread_over_more_than_the_window_are_not_a_duplicate() {
    let mut f = fabric(2);
    f.attach_mac(0, VNI, mac(1));
    f.settle();
    // Moves 45 s apart: any five span 180 s, so the oldest has always left the window
    // (a move exactly M seconds old no longer counts).
    let times: Vec<f64> = (1..=12).map(|k| f64::from(k) * 45.0).collect();
    ping_pong(&mut f, mac(1), &times);
    for i in 0..2 {
        assert!(frozen_subjects(&f.nodes[i].events).is_empty(), "node {i}");
    }
    // The MAC is where the last move put it, with sequence 12.
    assert_everyone_sees(&f, mac(1), 0, 12);
}

#[test]
fn freeze_expires_and_the_mac_is_processed_again() {
    let mut f = fabric(2);
    f.attach_mac(0, VNI, mac(1));
    f.settle();
    ping_pong(&mut f, mac(1), &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(
        frozen_subjects(&f.nodes[1].events),
        vec![Subject::Mac(mac(1))]
    );
    let until = f.nodes[1].engine.poll_timeout().unwrap();
    assert_eq!(until, f.t0 + Duration::from_secs(185));
    // One second before expiry: still frozen.
    f.at(184.0);
    assert!(matches!(
        f.location(1, VNI, mac(1)).unwrap().duplicate,
        DuplicateState::Frozen { .. }
    ));
    f.at(185.0);
    assert!(f.nodes[1].events.contains(&EngineEvent::Unfrozen {
        vni: VNI,
        subject: Subject::Mac(mac(1)),
        by_operator: false,
    }));
    f.settle();
    // Still attached at node 1: advertised above node 0's sequence and the fabric converges.
    let e = f.location(1, VNI, mac(1)).unwrap();
    assert_eq!(e.duplicate, DuplicateState::Normal);
    assert_eq!(e.origin, Location::Local);
    assert_everyone_sees(&f, mac(1), 1, e.sequence);
    assert!(e.sequence > 4);
}

#[test]
fn operator_clear_ends_a_permanent_freeze() {
    let dd = DuplicateDetection {
        freeze: Freeze::Permanent,
        max_moves: 3,
        ..DuplicateDetection::default()
    };
    let mut f = fabric_with(2, dd);
    f.attach_mac(0, VNI, mac(1));
    f.settle();
    ping_pong(&mut f, mac(1), &[1.0, 2.0, 3.0]);
    // The third move lands on node 1 (moves alternate 1, 0, 1).
    assert_eq!(
        frozen_subjects(&f.nodes[1].events),
        vec![Subject::Mac(mac(1))]
    );
    assert_eq!(f.nodes[1].engine.poll_timeout(), None, "no expiry");
    f.at(10_000.0);
    assert!(matches!(
        f.location(1, VNI, mac(1)).unwrap().duplicate,
        DuplicateState::Frozen { until: None }
    ));
    let now = f.now;
    let n = f.nodes[1]
        .engine
        .clear_duplicate(VNI, Some(Subject::Mac(mac(1))), now)
        .unwrap();
    assert_eq!(n, 1);
    f.collect();
    f.settle();
    assert!(f.nodes[1].events.contains(&EngineEvent::Unfrozen {
        vni: VNI,
        subject: Subject::Mac(mac(1)),
        by_operator: true,
    }));
    let e = f.location(1, VNI, mac(1)).unwrap();
    assert_everyone_sees(&f, mac(1), 1, e.sequence);
    // Clearing an unknown VNI is an error, not a panic.
    assert_eq!(
        f.nodes[1].engine.clear_duplicate(vni(999), None, now),
        Err(EngineError::UnknownVni(vni(999)))
    );
}

#[test]
fn duplicate_ip_detection_stops_advertising_the_binding() {
    let dd = DuplicateDetection {
        max_moves: 3,
        ..DuplicateDetection::default()
    };
    let mut f = fabric_with(2, dd);
    let addr = ip("192.0.2.50");
    // Two hosts with different MACs keep claiming the same IP.
    f.attach(0, Attachment::new(VNI, mac(1), Some(addr)));
    f.settle();
    for (k, t) in [1.0, 2.0, 3.0].iter().enumerate() {
        f.at(*t);
        let node = (k + 1) % 2;
        // Each claim re-binds the IP after the other side's binding arrived.
        f.detach(node, VNI, mac(node as u8 + 1), Some(addr));
        f.attach(node, Attachment::new(VNI, mac(node as u8 + 1), Some(addr)));
        f.settle();
    }
    let dup: Vec<usize> = (0..2)
        .filter(|i| frozen_subjects(&f.nodes[*i].events).contains(&Subject::Ip(addr)))
        .collect();
    assert!(!dup.is_empty(), "a duplicate IP was detected");
    for i in dup {
        let n = f.nodes[i].engine.neighbors(VNI);
        let b = n.iter().find(|b| b.ip == addr).unwrap();
        assert!(matches!(b.duplicate, DuplicateState::Frozen { .. }));
        // The local MAC+IP route of the IP is no longer advertised; the MAC route is.
        let mac_ip_advertised = f.nodes[i]
            .rib
            .loc_rib(evpnd_wire::Family::L2VPN_EVPN)
            .any(|(r, _)| {
                matches!(r, evpnd_wire::Route::Evpn(evpnd_wire::EvpnRoute::MacIp(x)) if x.ip == Some(addr))
            });
        assert!(!mac_ip_advertised, "node {i}");
        assert!(advertises(&f, i, mac(i as u8 + 1)));
    }
}

#[test]
fn proxy_nd_flags_travel_and_static_bindings_are_immutable() {
    let mut f = fabric(2);
    let v6 = ip("2001:db8::1");
    let mut a = Attachment::new(VNI, mac(1), Some(v6));
    a.router = true;
    f.attach(0, a);
    let mut s = Attachment::new(VNI, mac(2), Some(ip("192.0.2.9")));
    s.static_binding = true;
    f.attach(0, s);
    f.settle();
    // RFC 9047: the IPv6 binding carries R and O, the static IPv4 one the I flag.
    let flags = |want_ip: IpAddr| {
        f.nodes[0].routes.iter().find_map(|r| match r {
            RouteChange::Originate {
                nlri, attributes, ..
            } => match &nlri.route {
                evpnd_wire::Route::Evpn(evpnd_wire::EvpnRoute::MacIp(x))
                    if x.ip == Some(want_ip) =>
                {
                    attributes.iter().find_map(|a| match a {
                        PathAttribute::ExtendedCommunities(c) => {
                            c.iter().find_map(|c| match c.kind() {
                                k @ ExtCommunityKind::ArpNd { .. } => Some(k),
                                _ => None,
                            })
                        }
                        _ => None,
                    })
                }
                _ => None,
            },
            RouteChange::Withdraw { .. } => None,
        })
    };
    assert_eq!(
        flags(v6),
        Some(ExtCommunityKind::ArpNd {
            router: true,
            override_flag: true,
            proxy: false,
            immutable: false
        })
    );
    assert_eq!(
        flags(ip("192.0.2.9")),
        Some(ExtCommunityKind::ArpNd {
            router: false,
            override_flag: false,
            proxy: false,
            immutable: true
        })
    );
    // Node 1 answers ND for the router with the R flag.
    let n = f.nodes[1].engine.neighbors(VNI);
    let b = n.iter().find(|b| b.ip == v6).unwrap();
    assert!(b.router && !b.immutable);
    assert_eq!(
        f.nodes[1].dp.neigh[&(VNI, v6)],
        (mac(1), true, false),
        "neighbour intent with the router flag"
    );
    // A dynamic local claim of the statically bound IP on node 1 does not displace it.
    f.attach(1, Attachment::new(VNI, mac(3), Some(ip("192.0.2.9"))));
    f.settle();
    let n = f.nodes[1].engine.neighbors(VNI);
    let b = n.iter().find(|b| b.ip == ip("192.0.2.9")).unwrap();
    assert_eq!(
        (b.mac, b.origin),
        (mac(2), Location::Remote { vtep: vtep(0) })
    );
    assert!(b.immutable);
    f.check_dataplane(1, &[VNI]);
    // Local bindings are in the data plane too (kept, never aged out).
    assert_eq!(f.nodes[0].dp.neigh[&(VNI, v6)], (mac(1), true, true));
}

#[test]
fn flood_lists_follow_vnis_appearing_and_disappearing() {
    let mut f = fabric(3);
    f.add_vni(0, vni(200));
    f.settle();
    // Only node 0 has VNI 200: nobody floods VNI 200 yet.
    assert!(f.nodes[0].engine.flood_list(vni(200)).is_empty());
    // Node 2 joins VNI 200 later (replay gives it node 0's type-3 route).
    f.add_vni(2, vni(200));
    f.settle();
    assert_eq!(f.nodes[0].engine.flood_list(vni(200)), vec![vtep(2)]);
    assert_eq!(f.nodes[2].engine.flood_list(vni(200)), vec![vtep(0)]);
    assert!(f.nodes[1].engine.flood_list(vni(200)).is_empty());
    // Node 2 leaves VNI 100: nodes 0 and 1 stop flooding VNI 100 to it.
    f.remove_vni(2, VNI);
    f.settle();
    assert_eq!(f.nodes[0].engine.flood_list(VNI), vec![vtep(1)]);
    assert_eq!(f.nodes[1].engine.flood_list(VNI), vec![vtep(0)]);
    assert!(f.nodes[2].engine.flood_list(VNI).is_empty());
    for i in 0..3 {
        f.check_dataplane(i, &[VNI, vni(200)]);
    }
    assert_eq!(ASN, 65001);
}

#[test]
fn invalid_attachments_are_refused_with_a_reason() {
    let mut f = fabric(1);
    let now = f.now;
    let e = &mut f.nodes[0].engine;
    let bcast = evpnd_wire::MacAddress([0xff; 6]);
    assert_eq!(
        e.local_attach(&Attachment::new(VNI, bcast, None), now),
        Err(EngineError::InvalidMac(bcast))
    );
    let zero = evpnd_wire::MacAddress([0; 6]);
    assert_eq!(
        e.local_attach(&Attachment::new(VNI, zero, None), now),
        Err(EngineError::InvalidMac(zero))
    );
    for bad in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"] {
        assert_eq!(
            e.local_attach(&Attachment::new(VNI, mac(1), Some(ip(bad))), now),
            Err(EngineError::InvalidIp(ip(bad))),
            "{bad}"
        );
    }
    assert_eq!(
        e.local_detach(vni(7), mac(1), None, now),
        Err(EngineError::UnknownVni(vni(7)))
    );
    assert!(e.mac_table(VNI).is_empty());
}
