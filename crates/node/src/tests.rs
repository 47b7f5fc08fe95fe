//! Node behaviour that needs no network: configuration and command validation (nothing is
//! half-applied), refusal of unknown connections, RT-Constraint memberships following the
//! EVIs. Whole-fabric behaviour is tested in crate `evpnd-sim`, which drives real nodes over a
//! virtual network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::*;
use evpnd_evpn::{EngineConfig, EviConfig, ImportTarget};
use evpnd_wire::{Family, MacAddress, Route, RouteTarget, Vni};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

const ASN: u32 = 65000;

fn rid() -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 1)
}

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn mac(n: u8) -> MacAddress {
    MacAddress([2, 0, 0, 0, 0, n])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn nve_config() -> NodeConfig {
    let mut c = NodeConfig::new(ASN, rid());
    c.neighbors
        .push(NeighborConfig::new(ip("198.18.0.2"), ASN, ASN, rid()));
    c.evpn = Some(EvpnConfig {
        vrfs: Vec::new(),
        engine: EngineConfig::new(ASN, rid(), IpAddr::V4(rid())),
        evis: vec![EviConfig::new(vni(100))],
        endpoints: Vec::new(),
    });
    c
}

fn nve() -> Node {
    Node::new(nve_config(), Instant::now()).unwrap()
}

fn memberships(n: &Node) -> Vec<RouteTarget> {
    let mut v = n.memberships().to_vec();
    v.sort_by_key(|rt| rt.to_string());
    v
}

#[test]
fn a_new_node_connects_to_its_neighbours_and_originates_its_evi() {
    let mut n = nve();
    match n.poll_output() {
        Some(Output::Connect { remote, .. }) => {
            assert_eq!(remote, "198.18.0.2:179".parse().unwrap())
        }
        other => panic!("expected a connect, got {other:?}"),
    }
    // The type-3 route of VNI 100 (RFC 7432 §11.1) and the RTC membership for 65000:100.
    assert_eq!(n.rib().route_count(Family::L2VPN_EVPN), 1);
    assert_eq!(n.rib().route_count(Family::RT_CONSTRAINT), 1);
    let paths = n
        .rib()
        .loc_rib(Family::L2VPN_EVPN)
        .next()
        .map(|(_, p)| p)
        .unwrap();
    assert_eq!(paths[0].attrs.origin, evpnd_wire::Origin::Igp);
    assert!(paths[0].attrs.as_path.segments.is_empty());
}

#[test]
fn connections_from_strangers_are_refused_before_open() {
    let mut n = nve();
    let now = Instant::now();
    assert_eq!(
        n.accept(ip("198.18.0.99"), now),
        Err(Refused::NotANeighbor(ip("198.18.0.99")))
    );
    let mut events = std::iter::from_fn(|| n.poll_event());
    assert!(events.any(|e| matches!(e, NodeEvent::Refused { .. })));
    // An IPv4-mapped IPv6 source is the IPv4 neighbour.
    let a = n.accept(ip("::ffff:198.18.0.2"), now).unwrap();
    assert!(n
        .connections()
        .any(|(c, addr)| c == a.conn && addr == ip("198.18.0.2")));
}

#[test]
fn bad_commands_are_refused_with_the_field_and_change_nothing() {
    let mut n = nve();
    let now = Instant::now();
    let before = n.rib().route_count(Family::L2VPN_EVPN);
    let attach = |vni, mac, ipaddr: Option<&str>| {
        Command::Attach(EndpointSpec::new(vni, mac, ipaddr.map(ip)))
    };
    let cases: Vec<(Command, ErrorKind, &str)> = vec![
        (attach(0, mac(1), None), ErrorKind::InvalidArgument, "vni"),
        (
            attach(1 << 24, mac(1), None),
            ErrorKind::InvalidArgument,
            "vni",
        ),
        (attach(200, mac(1), None), ErrorKind::NotFound, "vni"),
        (
            attach(100, MacAddress([1, 0, 0x5e, 0, 0, 1]), None),
            ErrorKind::InvalidArgument,
            "mac",
        ),
        (
            attach(100, mac(1), Some("127.0.0.1")),
            ErrorKind::InvalidArgument,
            "ip",
        ),
        (
            Command::Detach {
                vni: 300,
                mac: mac(1),
                ip: None,
            },
            ErrorKind::NotFound,
            "vni",
        ),
        (Command::RemoveVni { vni: 300 }, ErrorKind::NotFound, "vni"),
        (
            Command::AddVni(VniSpec {
                vni: 100,
                rd: None,
                import: vec![],
                export: vec![],
                vrf: None,
                gateways: Vec::new(),
            }),
            ErrorKind::AlreadyExists,
            "vni",
        ),
        (
            // Auto RDs of 100 and 65636 are both 198.19.0.1:100 (RFC 7432 §7.9).
            Command::AddVni(VniSpec {
                vni: 65636,
                rd: None,
                import: vec![],
                export: vec![],
                vrf: None,
                gateways: Vec::new(),
            }),
            ErrorKind::InvalidArgument,
            "rd",
        ),
        (
            Command::RemoveNeighbor {
                address: ip("198.18.0.9"),
            },
            ErrorKind::NotFound,
            "address",
        ),
        (
            Command::Refresh {
                address: ip("198.18.0.2"),
                family: None,
            },
            ErrorKind::FailedPrecondition,
            "address",
        ),
        (
            Command::AddNeighbor(Box::new(NeighborConfig::new(
                ip("198.18.0.2"),
                ASN,
                ASN,
                rid(),
            ))),
            ErrorKind::AlreadyExists,
            "address",
        ),
        (
            Command::AddNeighbor(Box::new(NeighborConfig::new(
                ip("198.18.0.3"),
                0,
                ASN,
                rid(),
            ))),
            ErrorKind::InvalidArgument,
            "remote-asn",
        ),
        (
            Command::ClearDuplicate {
                vni: 0,
                subject: None,
            },
            ErrorKind::InvalidArgument,
            "vni",
        ),
    ];
    for (cmd, kind, field) in cases {
        let e = n.command(cmd.clone(), now).unwrap_err();
        assert_eq!((e.kind, e.field), (kind, field), "{cmd:?}: {e}");
    }
    assert_eq!(n.rib().route_count(Family::L2VPN_EVPN), before);
    assert!(n.macs(0).unwrap().is_empty());
    assert_eq!(n.neighbors(now).len(), 1);
}

#[test]
fn an_engineless_router_refuses_evpn_commands_as_a_precondition() {
    let mut c = nve_config();
    c.evpn = None;
    let mut n = Node::new(c, Instant::now()).unwrap();
    let e = n
        .command(
            Command::Attach(EndpointSpec::new(100, mac(1), None)),
            Instant::now(),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert_eq!(n.macs(0).unwrap_err().kind, ErrorKind::FailedPrecondition);
    assert!(n.evpn_status().is_none());
}

#[test]
fn memberships_follow_the_evis() {
    let mut n = nve();
    let now = Instant::now();
    let rt = |v| RouteTarget::As2 {
        asn: 65000,
        value: v,
    };
    assert_eq!(memberships(&n), vec![rt(100)]);
    n.command(
        Command::AddVni(VniSpec {
            vni: 200,
            rd: None,
            import: vec![ImportTarget::Exact(rt(100)), ImportTarget::Exact(rt(201))],
            export: vec![],
            vrf: None,
            gateways: Vec::new(),
        }),
        now,
    )
    .unwrap();
    assert_eq!(memberships(&n), vec![rt(100), rt(201)]);
    assert_eq!(n.rib().route_count(Family::RT_CONSTRAINT), 2);
    // 65000:100 is still needed by VNI 200 after VNI 100 goes.
    n.command(Command::RemoveVni { vni: 100 }, now).unwrap();
    assert_eq!(memberships(&n), vec![rt(100), rt(201)]);
    n.command(Command::RemoveVni { vni: 200 }, now).unwrap();
    assert!(memberships(&n).is_empty());
    assert_eq!(n.rib().route_count(Family::RT_CONSTRAINT), 0);
    // And the EVIs' type-3 routes went with them.
    assert_eq!(n.rib().route_count(Family::L2VPN_EVPN), 0);
}

#[test]
fn attach_detach_round_trip_and_the_tables_match_the_intents() {
    let mut n = nve();
    let now = Instant::now();
    let mut spec = EndpointSpec::new(100, mac(1), Some(ip("2001:db8::1")));
    spec.sticky = true;
    spec.router = true;
    n.command(Command::Attach(spec), now).unwrap();
    let macs = n.macs(100).unwrap();
    assert_eq!(macs.len(), 1);
    assert!(macs[0].sticky);
    let arp = n.arp(0).unwrap();
    assert!(arp[0].router);
    let mut dp = evpnd_dataplane::MemoryDataplane::default();
    while let Some(i) = n.poll_intent() {
        evpnd_dataplane::Dataplane::apply(&mut dp, &i).unwrap();
    }
    assert_eq!(dp.tables(), n.expected_dataplane());
    // Type 3, MAC, MAC+IP.
    assert_eq!(n.rib().route_count(Family::L2VPN_EVPN), 3);
    assert!(n
        .rib()
        .loc_rib(Family::L2VPN_EVPN)
        .any(|(r, _)| matches!(r, Route::Evpn(evpnd_wire::EvpnRoute::MacIp(_)))));
    n.command(
        Command::Detach {
            vni: 100,
            mac: mac(1),
            ip: None,
        },
        now,
    )
    .unwrap();
    while let Some(i) = n.poll_intent() {
        evpnd_dataplane::Dataplane::apply(&mut dp, &i).unwrap();
    }
    assert_eq!(dp.tables(), n.expected_dataplane());
    assert!(dp.fdb.is_empty() && dp.neigh.is_empty() && dp.vnis[&vni(100)].is_empty());
    assert_eq!(n.rib().route_count(Family::L2VPN_EVPN), 1);
    let status = n.evpn_status().unwrap();
    assert_eq!(status.counters.learned, 1);
    assert_eq!(status.counters.removed, 1);
}

#[test]
fn a_bad_configuration_starts_nothing() {
    let mut c = nve_config();
    c.neighbors.push(c.neighbors[0].clone());
    let e = Node::new(c, Instant::now()).unwrap_err();
    assert_eq!((e.kind, e.field), (ErrorKind::AlreadyExists, "address"));
    let mut c = nve_config();
    if let Some(e) = &mut c.evpn {
        e.engine.vtep = ip("127.0.0.1");
    }
    assert_eq!(Node::new(c, Instant::now()).unwrap_err().field, "vtep");
}

#[test]
fn data_plane_feedback_learns_forgets_and_counts_failures() {
    let mut n = nve();
    let now = Instant::now();
    let learned = DataplaneFeedback::LocalMacLearned {
        vni: 100,
        mac: mac(7),
        ip: Some(ip("192.0.2.7")),
    };
    n.handle(Input::Dataplane(learned), now);
    let macs = n.macs(100).unwrap();
    assert_eq!(macs.len(), 1, "a kernel-learned MAC is a local endpoint");
    assert_eq!(macs[0].ips, vec![ip("192.0.2.7")]);
    // Bad feedback is ignored with an event, never applied.
    let bad = DataplaneFeedback::LocalMacLearned {
        vni: 999,
        mac: mac(8),
        ip: None,
    };
    n.handle(Input::Dataplane(bad), now);
    let events: Vec<NodeEvent> = std::iter::from_fn(|| n.poll_event()).collect();
    assert!(events
        .iter()
        .any(|e| matches!(e, NodeEvent::Ignored { .. })));
    assert_eq!(n.macs(0).unwrap().len(), 1);
    n.handle(
        Input::Dataplane(DataplaneFeedback::LocalMacGone {
            vni: 100,
            mac: mac(7),
        }),
        now,
    );
    assert!(n.macs(100).unwrap().is_empty());
    let intent = evpnd_dataplane::DataplaneIntent::RemoveFlood {
        vni: vni(100),
        vtep: ip("198.19.0.9"),
    };
    n.handle(
        Input::Dataplane(DataplaneFeedback::InstallFailed {
            intent,
            reason: "test".into(),
        }),
        now,
    );
    assert_eq!(n.evpn_status().unwrap().counters.intent_failures, 1);
    assert!(std::iter::from_fn(|| n.poll_event())
        .any(|e| matches!(e, NodeEvent::DataplaneFailed { intent: i, .. } if i == intent)));
}

#[test]
fn a_mac_goes_only_when_neither_the_orchestrator_nor_the_kernel_holds_it() {
    let mut n = nve();
    let now = Instant::now();
    let learned = |m| {
        Input::Dataplane(DataplaneFeedback::LocalMacLearned {
            vni: 100,
            mac: mac(m),
            ip: None,
        })
    };
    let gone = |m| {
        Input::Dataplane(DataplaneFeedback::LocalMacGone {
            vni: 100,
            mac: mac(m),
        })
    };
    let detach = |m| Command::Detach {
        vni: 100,
        mac: mac(m),
        ip: None,
    };
    // Attached sticky, then seen by the kernel: keeps its flags; the bridge entry ageing out
    // does not withdraw it; the orchestrator's detach does.
    let mut spec = EndpointSpec::new(100, mac(1), None);
    spec.sticky = true;
    n.command(Command::Attach(spec), now).unwrap();
    n.handle(learned(1), now);
    assert!(
        n.macs(100).unwrap()[0].sticky,
        "learning kept the attach's flags"
    );
    n.handle(gone(1), now);
    assert_eq!(
        n.macs(100).unwrap().len(),
        1,
        "ageing out left the attached MAC"
    );
    n.command(detach(1), now).unwrap();
    assert!(n.macs(100).unwrap().is_empty());
    // Learned, then attached behind a port, then detached by the orchestrator: its word is
    // final (the port is released, so the kernel forgets the MAC too).
    n.handle(learned(2), now);
    let mut spec = EndpointSpec::new(100, mac(2), None);
    spec.port = Some(evpnd_evpn::PortName::new("t1v100").unwrap());
    n.command(Command::Attach(spec), now).unwrap();
    while n.poll_intent().is_some() {}
    n.command(detach(2), now).unwrap();
    assert!(n.macs(100).unwrap().is_empty());
    assert!(std::iter::from_fn(|| n.poll_intent()).any(|i| matches!(
        i,
        evpnd_dataplane::DataplaneIntent::RemovePort { port, .. } if port.as_str() == "t1v100"
    )));
    // The kernel's word that the MAC left then changes nothing.
    n.handle(gone(2), now);
    assert!(n.macs(100).unwrap().is_empty());
}

#[test]
fn the_data_plane_hears_synced_once_after_every_end_of_rib_or_the_deadline() {
    // No neighbour: synced at once, after the EVI's own intents.
    let mut c = nve_config();
    c.neighbors.clear();
    let now = Instant::now();
    let mut n = Node::new(c, now).unwrap();
    n.handle_timeout(now);
    let intents: Vec<_> = std::iter::from_fn(|| n.poll_intent()).collect();
    assert_eq!(
        intents,
        vec![
            evpnd_dataplane::DataplaneIntent::Vni {
                vni: vni(100),
                vrf: None,
            },
            evpnd_dataplane::DataplaneIntent::Synced
        ]
    );
    n.handle_timeout(now);
    assert!(n.poll_intent().is_none(), "once per start");
    // A neighbour that never comes up: synced at the select-defer time, not before.
    let mut n = nve();
    let t0 = Instant::now();
    n.handle_timeout(t0);
    let early: Vec<_> = std::iter::from_fn(|| n.poll_intent()).collect();
    assert!(!early.contains(&evpnd_dataplane::DataplaneIntent::Synced));
    let deadline = n.poll_timeout().unwrap();
    assert!(deadline <= t0 + std::time::Duration::from_secs(360));
    let late = t0 + std::time::Duration::from_secs(361);
    n.handle_timeout(late);
    let intents: Vec<_> = std::iter::from_fn(|| n.poll_intent()).collect();
    assert_eq!(intents, vec![evpnd_dataplane::DataplaneIntent::Synced]);
}

#[test]
fn link_state_from_the_data_plane_is_kept_per_vni() {
    let mut n = nve();
    let now = Instant::now();
    n.handle(
        Input::Dataplane(DataplaneFeedback::LinkState {
            vni: 100,
            up: false,
            reason: Some("vx100 exists and is not ours".into()),
        }),
        now,
    );
    assert_eq!(
        n.dataplane_links().get(&vni(100)),
        Some(&(false, Some("vx100 exists and is not ours".to_string())))
    );
    assert!(std::iter::from_fn(|| n.poll_event()).any(|e| matches!(
        e,
        NodeEvent::DataplaneLink {
            vni: 100,
            up: false,
            ..
        }
    )));
}

#[test]
fn a_connect_attempt_without_outcome_is_dropped_when_the_retry_timer_runs_out() {
    // RFC 4271 §8.2.2, Connect state, ConnectRetryTimer_Expires: the pending attempt goes and
    // a new one starts, so a driver that never reports an outcome cannot wedge the neighbour.
    let t0 = Instant::now();
    let mut n = Node::new(nve_config(), t0).unwrap();
    let first = match n.poll_output() {
        Some(Output::Connect { conn, .. }) => conn,
        other => panic!("expected a connect, got {other:?}"),
    };
    let mut outputs = Vec::new();
    let mut now = t0;
    for _ in 0..600 {
        now += std::time::Duration::from_secs(1);
        n.handle_timeout(now);
        outputs.extend(std::iter::from_fn(|| n.poll_output()));
        if outputs.iter().any(|o| matches!(o, Output::Connect { .. })) {
            break;
        }
    }
    assert!(
        matches!(outputs.first(), Some(Output::Abort { conn }) if *conn == first),
        "{outputs:?}"
    );
    assert!(
        matches!(outputs.get(1), Some(Output::Connect { conn, .. }) if *conn != first),
        "{outputs:?}"
    );
    // The stale attempt's late outcome is closed, not taken.
    n.handle(Input::Connected { conn: first }, now);
    assert!(matches!(n.poll_output(), Some(Output::Close { conn }) if conn == first));
}

#[test]
fn the_route_feed_reports_best_path_changes_only_once_turned_on() {
    let mut n = nve();
    let now = Instant::now();
    // Off by default: the type-3 route originated at start is not kept.
    assert!(n.poll_route_change().is_none());
    n.set_route_feed(true);
    n.command(
        Command::Attach(EndpointSpec::new(100, mac(1), Some(ip("192.0.2.1")))),
        now,
    )
    .unwrap();
    let changes: Vec<RouteView> = std::iter::from_fn(|| n.poll_route_change()).collect();
    assert!(!changes.is_empty());
    assert!(changes
        .iter()
        .all(|c| c.family == Family::L2VPN_EVPN && c.paths.len() == 1 && c.paths[0].best));
    n.command(
        Command::Detach {
            vni: 100,
            mac: mac(1),
            ip: None,
        },
        now,
    )
    .unwrap();
    let gone: Vec<RouteView> = std::iter::from_fn(|| n.poll_route_change()).collect();
    assert_eq!(
        gone.len(),
        changes.len(),
        "each route announced is withdrawn"
    );
    assert!(gone.iter().all(|c| c.paths.is_empty()));
    n.set_route_feed(false);
    n.command(Command::Attach(EndpointSpec::new(100, mac(2), None)), now)
        .unwrap();
    assert!(n.poll_route_change().is_none());
}

#[test]
fn counters_and_explanations_follow_the_tables() {
    let mut n = nve();
    let now = Instant::now();
    let sessions = n.session_counters();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].address, ip("198.18.0.2"));
    assert_eq!((sessions[0].updates_in, sessions[0].updates_out), (0, 0));
    n.command(
        Command::Attach(EndpointSpec::new(100, mac(1), Some(ip("192.0.2.1")))),
        now,
    )
    .unwrap();
    let counts = n.route_counts();
    let evpn = |route_type: u8| {
        counts
            .get(&RouteCountKey {
                family: Family::L2VPN_EVPN,
                route_type: Some(route_type),
                vni: Some(100),
            })
            .copied()
    };
    // The EVI's type 3, the MAC and MAC+IP type 2.
    assert_eq!((evpn(3), evpn(2)), (Some(1), Some(2)));
    // A local MAC: no route received, the local claim alone, no FDB intent.
    let x = n.explain_mac(100, mac(1)).unwrap();
    assert!(
        x.routes.iter().all(|r| r.verdict.is_none()),
        "ours, not received"
    );
    let engine = x.engine.unwrap();
    assert_eq!(engine.winner, Some(evpnd_evpn::Location::Local));
    assert_eq!(engine.decision, evpnd_evpn::Decision::OnlyClaim);
    assert_eq!(x.intent, None);
    // The IP: bound locally, a local neighbour intent.
    let x = n.explain_ip(100, ip("192.0.2.1")).unwrap();
    assert!(matches!(
        x.intent,
        Some(evpnd_dataplane::DataplaneIntent::Neighbor { local: true, .. })
    ));
    assert!(n.explain_mac(100, mac(9)).unwrap().engine.is_none());
    assert_eq!(
        n.explain_mac(200, mac(1)).unwrap_err().kind,
        ErrorKind::NotFound
    );
}
