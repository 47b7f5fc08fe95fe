//! Deterministic EVPN scenarios on small fabrics of real nodes (full iBGP mesh, real sessions,
//! virtual clock). Expected outcomes follow RFC 7432 §15 (mobility, sticky, duplicates) and
//! RFC 9161 / RFC 9047 (proxy ARP/ND), not our own output. These were the engine scenarios of
//! `crates/evpn/src/scenarios.rs`, which joined bare engines through RIBs without sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evpnd_dataplane::{FdbEntry, NeighEntry};
use evpnd_evpn::{
    DuplicateDetection, DuplicateState, EngineEvent, Freeze, Location, MacEntry, Subject,
};
use evpnd_node::{
    Command, EndpointSpec, ErrorKind, NodeEvent, PathSource, Reply, RouteFilter, VniSpec,
};
use evpnd_sim::config::vtep;
use evpnd_sim::{Sim, SimConfig, Topology};
use evpnd_wire::{EvpnRoute, ExtCommunityKind, MacAddress, Route, Vni};
use std::net::IpAddr;
use std::time::Duration;

const VNI: u32 = 100;

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn mac(last: u8) -> MacAddress {
    MacAddress([0x02, 0, 0, 0, 0, last])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A converged full mesh of `n` NVEs serving VNI 100, and the virtual time it converged at
/// (scenario times are counted from there).
fn fabric_with(n: usize, dd: DuplicateDetection) -> (Sim, Duration) {
    let mut c = SimConfig::new(u64::try_from(n).unwrap(), n, Topology::FullMesh);
    c.duplicate_detection = dd;
    c.keep_events = true;
    let mut sim = Sim::new(c).unwrap();
    sim.run_until_converged(Duration::from_secs(30)).unwrap();
    let t0 = sim.now();
    (sim, t0)
}

fn fabric(n: usize) -> (Sim, Duration) {
    fabric_with(n, DuplicateDetection::default())
}

fn settle(sim: &mut Sim) {
    sim.settle().unwrap();
}

/// Runs the clock to `secs` after `t0`.
fn at(sim: &mut Sim, t0: Duration, secs: f64) {
    sim.run_until(t0 + Duration::from_secs_f64(secs));
}

fn attach(sim: &mut Sim, i: usize, spec: EndpointSpec) {
    sim.attach(i, spec).unwrap();
}

fn attach_mac(sim: &mut Sim, i: usize, m: MacAddress) {
    sim.attach_mac(i, VNI, m, None).unwrap();
}

fn detach(sim: &mut Sim, i: usize, m: MacAddress, ipaddr: Option<IpAddr>) {
    sim.detach(i, VNI, m, ipaddr).unwrap();
}

/// Where node `i` has `m` of VNI 100.
fn location(sim: &Sim, i: usize, m: MacAddress) -> Option<MacEntry> {
    sim.node(i)
        .unwrap()
        .macs(VNI)
        .unwrap()
        .into_iter()
        .find(|e| e.mac == m)
}

fn flood(sim: &Sim, i: usize, v: u32) -> Vec<IpAddr> {
    sim.node(i).unwrap().flood(v).unwrap().remove(0).1
}

/// Node `i`'s data plane holds exactly what its tables call for, and refused nothing.
fn check_dataplane(sim: &Sim, i: usize) {
    assert!(sim.refused(i).is_empty(), "node {i}: {:?}", sim.refused(i));
    assert_eq!(
        sim.dataplane(i).tables(),
        sim.node(i).unwrap().expected_dataplane(),
        "node {i}: data plane differs from the tables"
    );
}

/// Every node has `m` at `owner` with `seq`; the owner as local.
fn assert_everyone_sees(sim: &Sim, m: MacAddress, owner: usize, seq: u32) {
    for i in 0..sim.nve_count() {
        let e = location(sim, i, m).unwrap_or_else(|| panic!("node {i} lacks {m}"));
        let want = if i == owner {
            Location::Local
        } else {
            Location::Remote { vtep: vtep(owner) }
        };
        assert_eq!(e.origin, want, "node {i}");
        assert_eq!(e.sequence, seq, "node {i} sequence");
        check_dataplane(sim, i);
    }
}

/// The extended communities of node `i`'s own path of the type-2 route of `m` (with `ipaddr`),
/// when it advertises one.
fn own_communities(
    sim: &Sim,
    i: usize,
    m: MacAddress,
    ipaddr: Option<IpAddr>,
) -> Option<Vec<ExtCommunityKind>> {
    let filter = RouteFilter {
        mac: Some(m),
        ..RouteFilter::default()
    };
    let found = sim.node(i).unwrap().routes(&filter).find_map(|r| {
        let Route::Evpn(EvpnRoute::MacIp(x)) = &r.route else {
            return None;
        };
        if x.ip != ipaddr {
            return None;
        }
        r.paths
            .iter()
            .find(|p| p.source == PathSource::Local)
            .map(|p| {
                p.path
                    .attrs
                    .ext_communities
                    .iter()
                    .map(|c| c.kind())
                    .collect()
            })
    });
    found
}

/// True when node `i` advertises the MAC-only route of `m`.
fn advertises(sim: &Sim, i: usize, m: MacAddress) -> bool {
    own_communities(sim, i, m, None).is_some()
}

/// The MAC mobility community node `i` advertises with `m` (`(0, false)` without one).
fn advertised_mobility(sim: &Sim, i: usize, m: MacAddress) -> Option<(u32, bool)> {
    own_communities(sim, i, m, None).map(|cs| {
        cs.into_iter()
            .find_map(|k| match k {
                ExtCommunityKind::MacMobility { sequence, sticky } => Some((sequence, sticky)),
                _ => None,
            })
            .unwrap_or((0, false))
    })
}

fn engine_events(events: &[(Duration, NodeEvent)]) -> Vec<EngineEvent> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            NodeEvent::Engine(e) => Some(*e),
            _ => None,
        })
        .collect()
}

fn frozen_subjects(sim: &Sim, i: usize) -> Vec<Subject> {
    engine_events(sim.events(i))
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Duplicate { subject, .. } => Some(subject),
            _ => None,
        })
        .collect()
}

#[test]
fn learn_and_withdraw_across_three_nodes() {
    let (mut sim, _) = fabric(3);
    // Every node floods to the two others.
    for i in 0..3 {
        let want: Vec<IpAddr> = (0..3).filter(|j| *j != i).map(vtep).collect();
        assert_eq!(flood(&sim, i, VNI), want);
    }
    attach(
        &mut sim,
        0,
        EndpointSpec::new(VNI, mac(1), Some(ip("192.0.2.1"))),
    );
    attach_mac(&mut sim, 1, mac(2));
    settle(&mut sim);
    assert_everyone_sees(&sim, mac(1), 0, 0);
    assert_everyone_sees(&sim, mac(2), 1, 0);
    // Node 2 answers ARP for 192.0.2.1 with node 0's MAC.
    let n = sim.node(2).unwrap().arp(VNI).unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].ip, n[0].mac), (ip("192.0.2.1"), mac(1)));
    assert_eq!(n[0].origin, Location::Remote { vtep: vtep(0) });
    assert!(sim.converged());
    // An expectation built by hand says the same as the orchestrator's record.
    let mut expected = evpnd_sim::Endpoints::default();
    expected.attach(0, EndpointSpec::new(VNI, mac(1), Some(ip("192.0.2.1"))));
    expected.attach(1, EndpointSpec::new(VNI, mac(2), None));
    sim.check_with(&expected).unwrap();
    expected.detach(1, VNI, mac(2), None);
    let e = sim.check_with(&expected).unwrap_err();
    assert!(e.contains("stale MAC 02:00:00:00:00:02"), "{e}");
    detach(&mut sim, 0, mac(1), None);
    detach(&mut sim, 1, mac(2), None);
    settle(&mut sim);
    for i in 0..3 {
        let node = sim.node(i).unwrap();
        assert!(node.macs(VNI).unwrap().is_empty(), "node {i}");
        assert!(node.arp(VNI).unwrap().is_empty(), "node {i}");
        check_dataplane(&sim, i);
        assert!(sim.dataplane(i).fdb.is_empty() && sim.dataplane(i).neigh.is_empty());
    }
    sim.check().unwrap();
}

#[test]
fn move_a_to_b_advertises_sequence_plus_one_and_the_old_owner_withdraws() {
    let (mut sim, _) = fabric(3);
    let spec = EndpointSpec::new(VNI, mac(1), Some(ip("192.0.2.1")));
    attach(&mut sim, 0, spec);
    settle(&mut sim);
    sim.take_events(0);
    // The VM shows up on node 1 (the orchestrator has not detached it from node 0 yet).
    attach(&mut sim, 1, spec);
    assert_eq!(advertised_mobility(&sim, 1, mac(1)), Some((1, false)));
    settle(&mut sim);
    assert_everyone_sees(&sim, mac(1), 1, 1);
    assert!(!advertises(&sim, 0, mac(1)), "old owner withdrew");
    assert!(engine_events(sim.events(0)).contains(&EngineEvent::Moved {
        vni: vni(VNI),
        mac: mac(1),
        from: Location::Local,
        to: Location::Remote { vtep: vtep(1) },
        sequence: 1,
    }));
    // The IP binding follows the MAC everywhere.
    for i in [0, 2] {
        let n = sim.node(i).unwrap().arp(VNI).unwrap();
        assert_eq!(n[0].origin, Location::Remote { vtep: vtep(1) }, "node {i}");
    }
    // A late detach on the old owner changes nothing.
    detach(&mut sim, 0, mac(1), None);
    settle(&mut sim);
    assert_everyone_sees(&sim, mac(1), 1, 1);
    sim.check().unwrap();
}

#[test]
fn move_a_to_b_to_a_keeps_counting_up() {
    let (mut sim, _) = fabric(3);
    attach_mac(&mut sim, 0, mac(1));
    settle(&mut sim);
    attach_mac(&mut sim, 1, mac(1));
    settle(&mut sim);
    attach_mac(&mut sim, 0, mac(1));
    settle(&mut sim);
    assert_everyone_sees(&sim, mac(1), 0, 2);
    assert_eq!(advertised_mobility(&sim, 0, mac(1)), Some((2, false)));
    assert!(!advertises(&sim, 1, mac(1)));
    sim.check().unwrap();
}

#[test]
fn simultaneous_learn_on_two_vteps_goes_to_the_lower_vtep() {
    let (mut sim, _) = fabric(3);
    // Both learn at the same instant, before either hears of the other: equal sequence
    // numbers (0).
    attach_mac(&mut sim, 2, mac(7));
    attach_mac(&mut sim, 1, mac(7));
    settle(&mut sim);
    // Node 1 (198.19.0.2) has the lower VTEP address than node 2 (198.19.0.3).
    assert_everyone_sees(&sim, mac(7), 1, 0);
    assert!(!advertises(&sim, 2, mac(7)));
    sim.check_agreement().unwrap();
}

#[test]
fn a_higher_sequence_from_another_vtep_takes_over_even_when_received_late() {
    let (mut sim, _) = fabric(2);
    attach_mac(&mut sim, 0, mac(3));
    settle(&mut sim);
    attach_mac(&mut sim, 1, mac(3)); // sequence 1
                                     // Before node 1's route arrives node 0 sees nothing new; after it, node 0 gives up.
    assert_eq!(location(&sim, 0, mac(3)).unwrap().origin, Location::Local);
    assert!(!sim.is_quiet());
    settle(&mut sim);
    assert_eq!(
        location(&sim, 0, mac(3)).unwrap().origin,
        Location::Remote { vtep: vtep(1) }
    );
    sim.check().unwrap();
}

#[test]
fn sticky_mac_never_moves_and_a_conflicting_claim_raises_an_alarm() {
    let (mut sim, _) = fabric(3);
    let mut a = EndpointSpec::new(VNI, mac(5), None);
    a.sticky = true;
    attach(&mut sim, 0, a);
    settle(&mut sim);
    assert_eq!(advertised_mobility(&sim, 0, mac(5)), Some((0, true)));
    // The remote FDB entries are static.
    assert_eq!(
        sim.dataplane(2).fdb[&(vni(VNI), mac(5))],
        FdbEntry {
            vtep: vtep(0),
            sticky: true
        }
    );
    // Node 1 learns the same MAC: not advertised, not installed, alarm.
    attach_mac(&mut sim, 1, mac(5));
    settle(&mut sim);
    assert!(!advertises(&sim, 1, mac(5)));
    let e = location(&sim, 1, mac(5)).unwrap();
    assert_eq!(e.origin, Location::Remote { vtep: vtep(0) });
    assert!(e.sticky && e.sticky_conflict);
    assert!(
        engine_events(sim.events(1)).contains(&EngineEvent::StickyConflict {
            vni: vni(VNI),
            mac: mac(5),
            sticky_at: Location::Remote { vtep: vtep(0) },
            claimed_at: Location::Local,
        })
    );
    for i in [0, 2] {
        let e = location(&sim, i, mac(5)).unwrap();
        let want = if i == 0 {
            Location::Local
        } else {
            Location::Remote { vtep: vtep(0) }
        };
        assert_eq!(e.origin, want);
        check_dataplane(&sim, i);
    }
    // The sticky owner keeps its MAC when a non-sticky claim with a higher sequence arrives:
    // node 1 gets a sticky MAC of its own and node 2 claims it.
    let mut s = EndpointSpec::new(VNI, mac(6), None);
    s.sticky = true;
    attach(&mut sim, 1, s);
    settle(&mut sim);
    attach_mac(&mut sim, 2, mac(6));
    settle(&mut sim);
    assert_eq!(location(&sim, 1, mac(6)).unwrap().origin, Location::Local);
    assert!(advertises(&sim, 1, mac(6)));
    // Once the sticky owner lets go, the dormant local claim elsewhere takes over.
    detach(&mut sim, 0, mac(5), None);
    settle(&mut sim);
    assert_eq!(location(&sim, 1, mac(5)).unwrap().origin, Location::Local);
    assert!(advertises(&sim, 1, mac(5)));
    assert_eq!(
        location(&sim, 2, mac(5)).unwrap().origin,
        Location::Remote { vtep: vtep(1) }
    );
    sim.check().unwrap();
}

/// Ping-pongs `m` between nodes 0 and 1, one move at each of `times` (seconds after `t0`).
fn ping_pong(sim: &mut Sim, t0: Duration, m: MacAddress, times: &[f64]) {
    for (k, t) in times.iter().enumerate() {
        at(sim, t0, *t);
        attach_mac(sim, (k + 1) % 2, m);
        settle(sim);
    }
}

#[test]
fn duplicate_detection_triggers_at_exactly_the_nth_move_inside_the_window() {
    let (mut sim, t0) = fabric(2);
    attach_mac(&mut sim, 0, mac(1));
    settle(&mut sim);
    // Four moves inside 180 s: not yet a duplicate anywhere.
    ping_pong(&mut sim, t0, mac(1), &[10.0, 50.0, 90.0, 130.0]);
    for i in 0..2 {
        assert!(frozen_subjects(&sim, i).is_empty(), "node {i}");
        assert_eq!(location(&sim, i, mac(1)).unwrap().moves, 4);
    }
    // The fifth, 179 s after the first: node 1 (where it lands) detects it.
    at(&mut sim, t0, 189.0);
    attach_mac(&mut sim, 1, mac(1));
    settle(&mut sim);
    assert_eq!(frozen_subjects(&sim, 1), vec![Subject::Mac(mac(1))]);
    let e = location(&sim, 1, mac(1)).unwrap();
    assert!(matches!(
        e.duplicate,
        DuplicateState::Frozen { until: Some(_) }
    ));
    // Frozen at node 1 (local there), not advertised; node 0 never saw the fifth move.
    assert_eq!(e.origin, Location::Local);
    assert!(!advertises(&sim, 1, mac(1)));
    assert!(frozen_subjects(&sim, 0).is_empty());
    // Further moves are not processed while frozen.
    attach_mac(&mut sim, 0, mac(1));
    settle(&mut sim);
    assert_eq!(location(&sim, 1, mac(1)).unwrap().origin, Location::Local);
}

#[test]
fn moves_spread_over_more_than_the_window_are_not_a_duplicate() {
    let (mut sim, t0) = fabric(2);
    attach_mac(&mut sim, 0, mac(1));
    settle(&mut sim);
    // Moves 45 s apart: any five span 180 s, so the oldest has always left the window (a move
    // exactly M seconds old no longer counts). Each NVE sees every move one link latency
    // after the other, so the spacing holds at both.
    let times: Vec<f64> = (1..=12).map(|k| f64::from(k) * 45.0).collect();
    ping_pong(&mut sim, t0, mac(1), &times);
    for i in 0..2 {
        assert!(frozen_subjects(&sim, i).is_empty(), "node {i}");
    }
    // The MAC is where the last move put it, with sequence 12.
    assert_everyone_sees(&sim, mac(1), 0, 12);
    sim.check().unwrap();
}

#[test]
fn freeze_expires_and_the_mac_is_processed_again() {
    let (mut sim, t0) = fabric(2);
    attach_mac(&mut sim, 0, mac(1));
    settle(&mut sim);
    ping_pong(&mut sim, t0, mac(1), &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(frozen_subjects(&sim, 1), vec![Subject::Mac(mac(1))]);
    // Frozen at the fifth move (t0 + 5 s) for the default 180 s.
    let until = sim
        .node(1)
        .unwrap()
        .engine()
        .unwrap()
        .poll_timeout()
        .unwrap();
    assert_eq!(sim.offset(until), t0 + Duration::from_secs(185));
    // One second before expiry: still frozen.
    at(&mut sim, t0, 184.0);
    assert!(matches!(
        location(&sim, 1, mac(1)).unwrap().duplicate,
        DuplicateState::Frozen { .. }
    ));
    at(&mut sim, t0, 185.0);
    assert!(
        engine_events(sim.events(1)).contains(&EngineEvent::Unfrozen {
            vni: vni(VNI),
            subject: Subject::Mac(mac(1)),
            by_operator: false,
        })
    );
    settle(&mut sim);
    // Still attached at node 1: advertised above node 0's sequence and the fabric converges.
    let e = location(&sim, 1, mac(1)).unwrap();
    assert_eq!(e.duplicate, DuplicateState::Normal);
    assert_eq!(e.origin, Location::Local);
    assert_everyone_sees(&sim, mac(1), 1, e.sequence);
    assert!(e.sequence > 4);
}

#[test]
fn operator_clear_ends_a_permanent_freeze() {
    let dd = DuplicateDetection {
        freeze: Freeze::Permanent,
        max_moves: 3,
        ..DuplicateDetection::default()
    };
    let (mut sim, t0) = fabric_with(2, dd);
    attach_mac(&mut sim, 0, mac(1));
    settle(&mut sim);
    ping_pong(&mut sim, t0, mac(1), &[1.0, 2.0, 3.0]);
    // The third move lands on node 1 (moves alternate 1, 0, 1).
    assert_eq!(frozen_subjects(&sim, 1), vec![Subject::Mac(mac(1))]);
    assert_eq!(
        sim.node(1).unwrap().engine().unwrap().poll_timeout(),
        None,
        "no expiry"
    );
    at(&mut sim, t0, 10_000.0);
    assert!(matches!(
        location(&sim, 1, mac(1)).unwrap().duplicate,
        DuplicateState::Frozen { until: None }
    ));
    let cleared = sim
        .command(
            1,
            Command::ClearDuplicate {
                vni: VNI,
                subject: Some(Subject::Mac(mac(1))),
            },
        )
        .unwrap();
    assert_eq!(cleared, Reply::Cleared(1));
    settle(&mut sim);
    assert!(
        engine_events(sim.events(1)).contains(&EngineEvent::Unfrozen {
            vni: vni(VNI),
            subject: Subject::Mac(mac(1)),
            by_operator: true,
        })
    );
    let e = location(&sim, 1, mac(1)).unwrap();
    assert_everyone_sees(&sim, mac(1), 1, e.sequence);
    // Clearing an unknown VNI is a refusal, not a panic.
    let e = sim
        .command(
            1,
            Command::ClearDuplicate {
                vni: 999,
                subject: None,
            },
        )
        .unwrap_err();
    assert_eq!((e.kind, e.field), (ErrorKind::NotFound, "vni"));
}

#[test]
fn duplicate_ip_detection_stops_advertising_the_binding() {
    let dd = DuplicateDetection {
        max_moves: 3,
        ..DuplicateDetection::default()
    };
    let (mut sim, t0) = fabric_with(2, dd);
    let addr = ip("192.0.2.50");
    // Two hosts with different MACs keep claiming the same IP.
    attach(&mut sim, 0, EndpointSpec::new(VNI, mac(1), Some(addr)));
    settle(&mut sim);
    for (k, t) in [1.0, 2.0, 3.0].iter().enumerate() {
        at(&mut sim, t0, *t);
        let node = (k + 1) % 2;
        let own = mac(node as u8 + 1);
        // Each claim re-binds the IP after the other side's binding arrived.
        detach(&mut sim, node, own, Some(addr));
        attach(&mut sim, node, EndpointSpec::new(VNI, own, Some(addr)));
        settle(&mut sim);
    }
    let dup: Vec<usize> = (0..2)
        .filter(|i| frozen_subjects(&sim, *i).contains(&Subject::Ip(addr)))
        .collect();
    assert!(!dup.is_empty(), "a duplicate IP was detected");
    for i in dup {
        let n = sim.node(i).unwrap().arp(VNI).unwrap();
        let b = n.iter().find(|b| b.ip == addr).unwrap();
        assert!(matches!(b.duplicate, DuplicateState::Frozen { .. }));
        // The local MAC+IP route of the IP is no longer advertised; the MAC route is.
        let own = mac(i as u8 + 1);
        assert!(
            own_communities(&sim, i, own, Some(addr)).is_none(),
            "node {i}"
        );
        assert!(advertises(&sim, i, own));
    }
}

#[test]
fn proxy_nd_flags_travel_and_static_bindings_are_immutable() {
    let (mut sim, _) = fabric(2);
    let v6 = ip("2001:db8::1");
    let mut a = EndpointSpec::new(VNI, mac(1), Some(v6));
    a.router = true;
    attach(&mut sim, 0, a);
    let mut s = EndpointSpec::new(VNI, mac(2), Some(ip("192.0.2.9")));
    s.static_binding = true;
    attach(&mut sim, 0, s);
    settle(&mut sim);
    // RFC 9047: the IPv6 binding carries R and O, the static IPv4 one the I flag.
    let flags = |m, want_ip| {
        own_communities(&sim, 0, m, Some(want_ip))
            .unwrap()
            .into_iter()
            .find(|k| matches!(k, ExtCommunityKind::ArpNd { .. }))
    };
    assert_eq!(
        flags(mac(1), v6),
        Some(ExtCommunityKind::ArpNd {
            router: true,
            override_flag: true,
            proxy: false,
            immutable: false
        })
    );
    assert_eq!(
        flags(mac(2), ip("192.0.2.9")),
        Some(ExtCommunityKind::ArpNd {
            router: false,
            override_flag: false,
            proxy: false,
            immutable: true
        })
    );
    // Node 1 answers ND for the router with the R flag.
    let n = sim.node(1).unwrap().arp(VNI).unwrap();
    let b = n.iter().find(|b| b.ip == v6).unwrap();
    assert!(b.router && !b.immutable);
    assert_eq!(
        sim.dataplane(1).neigh[&(vni(VNI), v6)],
        NeighEntry {
            mac: mac(1),
            router: true,
            local: false
        },
        "neighbour intent with the router flag"
    );
    // A dynamic local claim of the statically bound IP on node 1 does not displace it.
    attach(
        &mut sim,
        1,
        EndpointSpec::new(VNI, mac(3), Some(ip("192.0.2.9"))),
    );
    settle(&mut sim);
    let n = sim.node(1).unwrap().arp(VNI).unwrap();
    let b = n.iter().find(|b| b.ip == ip("192.0.2.9")).unwrap();
    assert_eq!(
        (b.mac, b.origin),
        (mac(2), Location::Remote { vtep: vtep(0) })
    );
    assert!(b.immutable);
    check_dataplane(&sim, 1);
    // Local bindings are in the data plane too (kept, never aged out).
    assert_eq!(
        sim.dataplane(0).neigh[&(vni(VNI), v6)],
        NeighEntry {
            mac: mac(1),
            router: true,
            local: true
        }
    );
}

#[test]
fn flood_lists_follow_vnis_appearing_and_disappearing() {
    let (mut sim, _) = fabric(3);
    let add = |v| {
        Command::AddVni(VniSpec {
            vni: v,
            rd: None,
            import: Vec::new(),
            export: Vec::new(),
            vrf: None,
            gateways: Vec::new(),
        })
    };
    sim.command(0, add(200)).unwrap();
    settle(&mut sim);
    // Only node 0 has VNI 200: nobody floods VNI 200 yet.
    assert!(flood(&sim, 0, 200).is_empty());
    // Node 2 joins VNI 200 later: its RT-Constraint membership brings it node 0's type-3
    // route, and node 0 learns of node 2's.
    sim.command(2, add(200)).unwrap();
    settle(&mut sim);
    assert_eq!(flood(&sim, 0, 200), vec![vtep(2)]);
    assert_eq!(flood(&sim, 2, 200), vec![vtep(0)]);
    let e = sim.node(1).unwrap().flood(200).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "node 1 has no VNI 200");
    // Node 2 leaves VNI 100: nodes 0 and 1 stop flooding VNI 100 to it.
    sim.command(2, Command::RemoveVni { vni: VNI }).unwrap();
    settle(&mut sim);
    assert_eq!(flood(&sim, 0, VNI), vec![vtep(1)]);
    assert_eq!(flood(&sim, 1, VNI), vec![vtep(0)]);
    assert!(sim.node(2).unwrap().flood(VNI).is_err());
    for i in 0..3 {
        check_dataplane(&sim, i);
    }
    sim.check().unwrap();
}

#[test]
fn invalid_attachments_are_refused_with_a_reason() {
    let (mut sim, _) = fabric(1);
    let refused = |sim: &mut Sim, m: MacAddress, ipaddr: Option<&str>| {
        let e = sim.attach_mac(0, VNI, m, ipaddr.map(ip)).unwrap_err();
        (e.kind, e.field)
    };
    let bcast = MacAddress([0xff; 6]);
    assert_eq!(
        refused(&mut sim, bcast, None),
        (ErrorKind::InvalidArgument, "mac")
    );
    let zero = MacAddress([0; 6]);
    assert_eq!(
        refused(&mut sim, zero, None),
        (ErrorKind::InvalidArgument, "mac")
    );
    for bad in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"] {
        assert_eq!(
            refused(&mut sim, mac(1), Some(bad)),
            (ErrorKind::InvalidArgument, "ip"),
            "{bad}"
        );
    }
    let e = sim.detach(0, 7, mac(1), None).unwrap_err();
    assert_eq!((e.kind, e.field), (ErrorKind::NotFound, "vni"));
    assert!(sim.node(0).unwrap().macs(VNI).unwrap().is_empty());
    assert!(sim.endpoints().is_empty());
}

/// Neighbours come and go at run time (the node's AddNeighbor / RemoveNeighbor / ResetNeighbor
/// commands): a removed neighbour is closed with Cease/Peer De-configured (RFC 4486 §4) and
/// its routes leave the tables; added back, the fabric converges again; a hard reset closes
/// with Cease/Administrative Reset and re-establishes; a soft reset asks for the routes again
/// (ROUTE-REFRESH, RFC 2918) without a flap.
#[test]
fn neighbours_removed_added_and_reset_at_run_time() {
    use evpnd_sim::config::node_config;
    use evpnd_wire::error::code;
    let (mut sim, _) = fabric(3);
    attach_mac(&mut sim, 1, mac(1));
    settle(&mut sim);
    assert!(location(&sim, 0, mac(1)).is_some());
    let addr1 = sim.address(1);
    let addr0 = sim.address(0);
    let n1 = node_config(sim.config(), sim.role(0))
        .unwrap()
        .neighbors
        .into_iter()
        .find(|n| n.peer.address == addr1)
        .unwrap();
    let peer_view = |sim: &Sim, i: usize, a: IpAddr| {
        sim.node(i)
            .unwrap()
            .neighbors(sim.instant())
            .into_iter()
            .find(|n| n.address == a)
    };

    sim.command(0, Command::RemoveNeighbor { address: addr1 })
        .unwrap();
    sim.run_for(Duration::from_secs(5));
    assert!(
        location(&sim, 0, mac(1)).is_none(),
        "node 1's MAC left node 0"
    );
    assert!(peer_view(&sim, 0, addr1).is_none());
    let v = peer_view(&sim, 1, addr0).unwrap();
    assert_ne!(v.state, evpnd_bgp::session::State::Established);
    let n = v.last_notification_received.unwrap().notification;
    assert_eq!((n.code, n.subcode), (code::CEASE, 3), "Peer De-configured");
    // Node 2 still carries node 1's MAC: only the one session went.
    assert!(location(&sim, 2, mac(1)).is_some());
    check_dataplane(&sim, 0);

    sim.command(0, Command::AddNeighbor(Box::new(n1))).unwrap();
    sim.run_until_converged(Duration::from_secs(30)).unwrap();
    assert!(location(&sim, 0, mac(1)).is_some(), "back after re-adding");

    let before = peer_view(&sim, 1, addr0).unwrap().established_count;
    sim.command(
        0,
        Command::ResetNeighbor {
            address: addr1,
            kind: evpnd_node::ResetKind::Hard,
        },
    )
    .unwrap();
    sim.run_until_converged(Duration::from_secs(30)).unwrap();
    let v = peer_view(&sim, 1, addr0).unwrap();
    assert_eq!(v.established_count, before + 1, "the session flapped once");
    let n = v.last_notification_received.unwrap().notification;
    assert_eq!(
        (n.code, n.subcode),
        (code::CEASE, 4),
        "Administrative Reset"
    );

    let r = sim
        .command(
            0,
            Command::ResetNeighbor {
                address: addr1,
                kind: evpnd_node::ResetKind::Soft,
            },
        )
        .unwrap();
    assert!(
        matches!(r, Reply::Refreshed(ref f) if !f.is_empty()),
        "{r:?}"
    );
    sim.run_until_converged(Duration::from_secs(30)).unwrap();
    assert_eq!(
        peer_view(&sim, 1, addr0).unwrap().established_count,
        before + 1,
        "a soft reset does not flap"
    );
    for i in 0..3 {
        check_dataplane(&sim, i);
    }
}
