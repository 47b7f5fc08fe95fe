//! Dynamic neighbours: connections from peer groups' listen ranges become neighbours made from
//! the group's template, within its limit, and go (slot and RIB peer) when their session ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::*;
use evpnd_wire::capability::{Capability, GracefulRestart, GracefulRestartFamily};
use evpnd_wire::{encode_message, CodecContext, Family, IpPrefix, Message, Open};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const ASN: u32 = 65000;

fn rid() -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 1)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

fn group(name: &str, ranges: &[&str], remote: RemoteAsn, limit: u32) -> PeerGroupConfig {
    let mut g = PeerGroupConfig::new(
        name,
        ranges.iter().map(|r| prefix(r)).collect(),
        remote,
        ASN,
        rid(),
    );
    g.limit = limit;
    g.template.peer.families = vec![Family::L2VPN_EVPN, Family::RT_CONSTRAINT];
    g
}

fn node_with(groups: Vec<PeerGroupConfig>) -> Node {
    let mut c = NodeConfig::new(ASN, rid());
    c.peer_groups = groups;
    Node::new(c, Instant::now()).unwrap()
}

/// An OPEN from a peer in `asn` with identifier `id` (EVPN + RTC, optionally graceful
/// restart), then a KEEPALIVE: what a client sends to reach Established.
fn open_and_keepalive(asn: u32, id: Ipv4Addr, graceful: bool) -> Vec<u8> {
    let mut caps = vec![
        Capability::Multiprotocol(Family::L2VPN_EVPN),
        Capability::Multiprotocol(Family::RT_CONSTRAINT),
    ];
    if graceful {
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restarting: false,
            notification: false,
            restart_time: 120,
            families: vec![GracefulRestartFamily {
                family: Family::L2VPN_EVPN,
                forwarding_preserved: true,
            }],
        }));
    }
    let ctx = CodecContext::default();
    let mut b = Vec::new();
    encode_message(&ctx, &Message::Open(Open::new(asn, 90, id, caps)), &mut b).unwrap();
    encode_message(&ctx, &Message::Keepalive, &mut b).unwrap();
    b
}

/// An UPDATE carrying one RT-Constraint membership (RFC 4684 §4) for route target
/// `asn:number`, from a client whose next hop is `next_hop`.
fn membership(asn: u32, number: u32, next_hop: Ipv4Addr) -> Vec<u8> {
    use evpnd_wire::{
        AsPath, ExtendedCommunity, MpReach, NextHop, Nlri, Origin, PathAttribute, Route,
        RouteTarget, RtMembership, Update,
    };
    let rt = ExtendedCommunity::route_target(RouteTarget::As2 {
        asn: asn as u16,
        value: number,
    })
    .0;
    let nlri = Nlri::new(Route::RtConstraint(RtMembership::exact(asn, rt)));
    let u = Update {
        mp_reach: Some(MpReach::new(
            Family::RT_CONSTRAINT,
            NextHop::from_ip(IpAddr::V4(next_hop)),
            vec![nlri],
        )),
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::default()),
            PathAttribute::LocalPref(100),
        ],
        ..Update::default()
    };
    let mut b = Vec::new();
    let ctx = CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    };
    encode_message(&ctx, &Message::Update(u), &mut b).unwrap();
    b
}

fn outputs(n: &mut Node) -> Vec<Output> {
    std::iter::from_fn(|| n.poll_output()).collect()
}

fn events(n: &mut Node) -> Vec<NodeEvent> {
    std::iter::from_fn(|| n.poll_event()).collect()
}

/// Accepts a connection from `from` and brings it to Established with a peer in `asn`.
fn establish(n: &mut Node, from: &str, asn: u32, graceful: bool, now: Instant) -> ConnId {
    let a = n.accept(ip(from), now).unwrap();
    let id = match ip(from) {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => Ipv4Addr::new(198, 18, 9, 9),
    };
    n.handle(
        Input::Received {
            conn: a.conn,
            bytes: &open_and_keepalive(asn, id, graceful),
        },
        now,
    );
    assert!(
        events(n)
            .iter()
            .any(|e| matches!(e, NodeEvent::Established { address, .. } if *address == ip(from))),
        "{from} did not reach Established"
    );
    a.conn
}

fn view(n: &Node, name: &str) -> PeerGroupView {
    n.peer_groups()
        .into_iter()
        .find(|g| g.name == name)
        .unwrap()
}

#[test]
fn connections_in_a_listen_range_are_accepted_and_others_refused_before_open() {
    let mut n = node_with(vec![group(
        "nves",
        &["127.64.0.0/10"],
        RemoteAsn::Internal,
        100,
    )]);
    let now = Instant::now();
    let a = n.accept(ip("127.64.0.5"), now).unwrap();
    // Our OPEN goes out at once on the accepted connection (passive session).
    assert!(outputs(&mut n)
        .iter()
        .any(|o| matches!(o, Output::Send { conn, .. } if *conn == a.conn)));
    let nb = n.neighbors(now);
    assert_eq!(nb.len(), 1);
    assert_eq!(nb[0].address, ip("127.64.0.5"));
    assert_eq!(nb[0].group.as_deref(), Some("nves"));
    assert!(nb[0].passive);
    // Outside every range: refused, counted globally, nothing sent.
    assert_eq!(
        n.accept(ip("127.0.0.5"), now),
        Err(Refused::NotANeighbor(ip("127.0.0.5")))
    );
    assert!(outputs(&mut n).is_empty());
    assert!(events(&mut n)
        .iter()
        .any(|e| matches!(e, NodeEvent::Refused { remote } if *remote == ip("127.0.0.5"))));
    assert_eq!(n.refused_out_of_range(), 1);
    let v = view(&n, "nves");
    assert_eq!((v.active, v.accepted, v.refused_limit), (1, 1, 0));
}

#[test]
fn the_limit_is_enforced_and_freed_when_a_session_ends() {
    let mut n = node_with(vec![group(
        "nves",
        &["127.64.0.0/10"],
        RemoteAsn::Internal,
        2,
    )]);
    let now = Instant::now();
    let c1 = establish(&mut n, "127.64.0.1", ASN, false, now);
    establish(&mut n, "127.64.0.2", ASN, false, now);
    assert_eq!(
        n.accept(ip("127.64.0.3"), now),
        Err(Refused::GroupLimit {
            remote: ip("127.64.0.3"),
            limit: 2
        })
    );
    assert!(events(&mut n).iter().any(|e| matches!(
        e,
        NodeEvent::RefusedGroupLimit { group, limit: 2, .. } if group == "nves"
    )));
    let v = view(&n, "nves");
    assert_eq!((v.active, v.established, v.refused_limit), (2, 2, 1));
    // One leaves: its slot and its RIB peer go, and a new one fits.
    n.handle(Input::Closed { conn: c1 }, now);
    assert_eq!(n.neighbors(now).len(), 1);
    assert!(n.peer_index(ip("127.64.0.1")).is_none());
    let v = view(&n, "nves");
    assert_eq!((v.active, v.established), (1, 1));
    establish(&mut n, "127.64.0.3", ASN, false, now);
    // The freed slot was reused.
    assert_eq!(n.peer_index(ip("127.64.0.3")), Some(0));
    assert_eq!(view(&n, "nves").accepted, 3);
}

#[test]
fn churn_does_not_grow_the_slots() {
    let mut n = node_with(vec![group(
        "nves",
        &["127.64.0.0/10"],
        RemoteAsn::Internal,
        10,
    )]);
    let now = Instant::now();
    for k in 0..200u32 {
        let from = format!("127.64.{}.{}", k / 250, k % 250 + 1);
        let c = establish(&mut n, &from, ASN, false, now);
        n.handle(Input::Closed { conn: c }, now);
    }
    assert_eq!(n.peers.len(), 1);
    assert!(n.neighbors(now).is_empty());
    assert!(n.connections().next().is_none());
    assert!(n.deadlines.is_empty());
    assert_eq!(view(&n, "nves").active, 0);
}

#[test]
fn the_most_specific_listen_range_picks_the_group() {
    let mut n = node_with(vec![
        group("wide", &["127.64.0.0/10"], RemoteAsn::Internal, 10),
        group("narrow", &["127.64.1.0/24"], RemoteAsn::Internal, 10),
    ]);
    let now = Instant::now();
    n.accept(ip("127.64.1.9"), now).unwrap();
    n.accept(ip("127.64.2.9"), now).unwrap();
    let nb = n.neighbors(now);
    let group_of = |a: &str| {
        nb.iter()
            .find(|v| v.address == ip(a))
            .and_then(|v| v.group.clone())
    };
    assert_eq!(group_of("127.64.1.9").as_deref(), Some("narrow"));
    assert_eq!(group_of("127.64.2.9").as_deref(), Some("wide"));
    // The same range in two groups is a configuration error.
    let mut c = NodeConfig::new(ASN, rid());
    c.peer_groups = vec![
        group("a", &["127.64.0.0/10"], RemoteAsn::Internal, 10),
        group("b", &["127.64.0.0/10"], RemoteAsn::Internal, 10),
    ];
    let e = Node::new(c, Instant::now()).unwrap_err();
    assert_eq!(e.field, "listen-range");
    assert!(e.message.contains("peer-group a"), "{}", e.message);
}

#[test]
fn configured_neighbours_come_before_listen_ranges() {
    let mut c = NodeConfig::new(ASN, rid());
    let mut nb = NeighborConfig::new(ip("127.64.0.7"), ASN, ASN, rid());
    nb.peer.passive = true;
    c.neighbors.push(nb);
    c.peer_groups = vec![group("nves", &["127.64.0.0/10"], RemoteAsn::Internal, 1)];
    let mut n = Node::new(c, Instant::now()).unwrap();
    let now = Instant::now();
    n.accept(ip("127.64.0.7"), now).unwrap();
    assert_eq!(view(&n, "nves").active, 0);
    assert_eq!(n.neighbors(now)[0].group, None);
}

/// The NOTIFICATION (code, subcode) sent on `conn` among `outs`.
fn notification_on(outs: &[Output], conn: ConnId) -> Option<(u8, u8)> {
    outs.iter().find_map(|o| match o {
        Output::Send { conn: c, bytes } if *c == conn && bytes.get(18) == Some(&3) => {
            Some((bytes[19], bytes[20]))
        }
        _ => None,
    })
}

#[test]
fn internal_and_external_groups_check_the_peer_as() {
    let now = Instant::now();
    // Internal: another AS is Bad Peer AS (2/2, RFC 4271 §6.2), and the slot goes.
    let mut n = node_with(vec![group(
        "ibgp",
        &["127.64.0.0/10"],
        RemoteAsn::Internal,
        10,
    )]);
    let a = n.accept(ip("127.64.0.1"), now).unwrap();
    outputs(&mut n);
    n.handle(
        Input::Received {
            conn: a.conn,
            bytes: &open_and_keepalive(65099, Ipv4Addr::new(127, 64, 0, 1), false),
        },
        now,
    );
    assert_eq!(notification_on(&outputs(&mut n), a.conn), Some((2, 2)));
    assert!(n.neighbors(now).is_empty());
    assert_eq!(view(&n, "ibgp").active, 0);
    // External: our AS is Bad Peer AS, any other is accepted as eBGP.
    let mut n = node_with(vec![group(
        "ebgp",
        &["127.64.0.0/10"],
        RemoteAsn::External,
        10,
    )]);
    let a = n.accept(ip("127.64.0.1"), now).unwrap();
    outputs(&mut n);
    n.handle(
        Input::Received {
            conn: a.conn,
            bytes: &open_and_keepalive(ASN, Ipv4Addr::new(127, 64, 0, 1), false),
        },
        now,
    );
    assert_eq!(notification_on(&outputs(&mut n), a.conn), Some((2, 2)));
    establish(&mut n, "127.64.0.2", 65099, false, now);
    establish(&mut n, "127.64.0.3", 4_200_000_000, false, now);
    assert_eq!(view(&n, "ebgp").established, 2);
    assert_eq!(view(&n, "ebgp").remote_asn, RemoteAsn::External);
}

#[test]
fn a_gracefully_restarting_dynamic_peer_keeps_its_slot_while_stale_paths_live() {
    let mut g = group("nves", &["127.64.0.0/10"], RemoteAsn::Internal, 10);
    g.template.peer.graceful_restart = Some(evpnd_bgp::config::GracefulRestartConfig {
        restart_time: 120,
        stale_routes_time: Duration::from_secs(360),
    });
    let mut n = node_with(vec![g]);
    let now = Instant::now();
    let c = establish(&mut n, "127.64.0.1", ASN, true, now);
    n.handle(
        Input::Received {
            conn: c,
            bytes: &membership(ASN, 100, Ipv4Addr::new(127, 64, 0, 1)),
        },
        now,
    );
    assert_eq!(n.rib().route_count(Family::RT_CONSTRAINT), 1);
    // A bare TCP close from a GR peer is graceful: the slot stays.
    n.handle(Input::Closed { conn: c }, now);
    assert!(events(&mut n)
        .iter()
        .any(|e| matches!(e, NodeEvent::Down { graceful: true, .. })));
    let slot = n.peer_index(ip("127.64.0.1"));
    assert!(slot.is_some());
    assert_eq!(view(&n, "nves").active, 1);
    // It comes back from the same address: the same slot.
    establish(&mut n, "127.64.0.1", ASN, true, now);
    assert_eq!(n.peer_index(ip("127.64.0.1")), slot);
    assert_eq!(n.neighbors(now).len(), 1);
    // Down again, and the stale paths time out: then the slot goes.
    let conn = n.connections().next().unwrap().0;
    n.handle(Input::Closed { conn }, now);
    let later = now + Duration::from_secs(3600);
    for _ in 0..5 {
        let Some(t) = n.poll_timeout() else { break };
        n.handle_timeout(t.max(now).min(later));
    }
    n.handle_timeout(later);
    assert!(n.peer_index(ip("127.64.0.1")).is_none());
    assert_eq!(view(&n, "nves").active, 0);
}

#[test]
fn reload_changes_limits_in_place_and_other_changes_restart_the_group() {
    let mut n = node_with(vec![group(
        "nves",
        &["127.64.0.0/10"],
        RemoteAsn::Internal,
        1,
    )]);
    let now = Instant::now();
    establish(&mut n, "127.64.0.1", ASN, false, now);
    // A new limit: sessions stay.
    let g = group("nves", &["127.64.0.0/10"], RemoteAsn::Internal, 5);
    n.command(Command::SetPeerGroup(Box::new(g)), now).unwrap();
    assert_eq!(view(&n, "nves").limit, 5);
    assert_eq!(view(&n, "nves").established, 1);
    establish(&mut n, "127.64.0.2", ASN, false, now);
    // A new hold time: the group's sessions end with Cease/Other Configuration Change.
    let mut g = group("nves", &["127.64.0.0/10"], RemoteAsn::Internal, 5);
    g.template.peer.hold_time = 30;
    n.command(Command::SetPeerGroup(Box::new(g)), now).unwrap();
    let outs = outputs(&mut n);
    assert_eq!(
        outs.iter()
            .filter(|o| matches!(o, Output::Send { bytes, .. } if bytes.get(18) == Some(&3) && bytes[19] == 6 && bytes[20] == 6))
            .count(),
        2
    );
    assert!(n.neighbors(now).is_empty());
    assert_eq!(view(&n, "nves").active, 0);
    // A new group beside it, then the first removed: its sessions end, its range refuses.
    let g = group("more", &["127.65.0.0/16"], RemoteAsn::Internal, 5);
    n.command(Command::SetPeerGroup(Box::new(g)), now).unwrap();
    establish(&mut n, "127.64.0.3", ASN, false, now);
    establish(&mut n, "127.65.0.3", ASN, false, now);
    n.command(
        Command::RemovePeerGroup {
            name: "nves".into(),
        },
        now,
    )
    .unwrap();
    assert_eq!(n.neighbors(now).len(), 1);
    assert!(n.accept(ip("127.64.0.4"), now).is_err());
    // Errors name the field.
    let bad = group("more2", &["127.65.0.0/16"], RemoteAsn::Internal, 5);
    let e = n
        .command(Command::SetPeerGroup(Box::new(bad)), now)
        .unwrap_err();
    assert_eq!(e.field, "listen-range");
    let e = n
        .command(Command::RemovePeerGroup { name: "x".into() }, now)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let bad = group("z", &["127.66.0.0/16"], RemoteAsn::Internal, 0);
    let e = n
        .command(Command::SetPeerGroup(Box::new(bad)), now)
        .unwrap_err();
    assert_eq!(e.field, "limit");
}

#[test]
fn session_timers_are_found_without_scanning_every_peer() {
    let mut n = node_with(vec![group(
        "nves",
        &["127.64.0.0/10"],
        RemoteAsn::Internal,
        100,
    )]);
    let now = Instant::now();
    for k in 1..=50 {
        establish(&mut n, &format!("127.64.0.{k}"), ASN, false, now);
    }
    outputs(&mut n);
    // Keepalives are due after a third of the hold time: each session's timer fires once.
    let t = n.poll_timeout().unwrap();
    assert!(t > now && t <= now + Duration::from_secs(30));
    n.handle_timeout(now + Duration::from_secs(31));
    let keepalives = outputs(&mut n)
        .iter()
        .filter(|o| matches!(o, Output::Send { bytes, .. } if bytes.len() == 19 && bytes[18] == 4))
        .count();
    assert_eq!(keepalives, 50);
    assert!(n.poll_timeout().unwrap() > now + Duration::from_secs(31));
}

/// A reflector whose graceful-restart clients all come from a listen range restarts: the
/// deferral (RFC 4724 §4.1) still runs, waits for the dynamic neighbours that come up, and
/// ends with their End-of-RIB; with nobody coming, at the select-defer time.
#[test]
fn a_restart_with_graceful_restart_peer_groups_alone_defers_until_their_end_of_rib() {
    let with_gr = || {
        let mut g = group("nves", &["127.64.0.0/10"], RemoteAsn::Internal, 10);
        g.template.peer.graceful_restart = Some(evpnd_bgp::config::GracefulRestartConfig {
            restart_time: 120,
            stale_routes_time: Duration::from_secs(360),
        });
        g
    };
    let restarting_node = |now: Instant| {
        let mut c = NodeConfig::new(ASN, rid());
        c.peer_groups = vec![with_gr()];
        c.restarting = true;
        Node::new(c, now).unwrap()
    };
    let ended = |evs: &[NodeEvent]| {
        evs.iter().find_map(|e| match e {
            NodeEvent::DeferralEnded { timed_out } => Some(*timed_out),
            _ => None,
        })
    };
    let now = Instant::now();
    let mut n = restarting_node(now);
    assert!(events(&mut n)
        .iter()
        .any(|e| matches!(e, NodeEvent::DeferralStarted { .. })));
    let c = establish(&mut n, "127.64.0.1", ASN, true, now);
    let ctx = CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    };
    let eor = |f: Family| {
        let mut b = Vec::new();
        encode_message(
            &ctx,
            &Message::Update(evpnd_wire::Update::end_of_rib(f)),
            &mut b,
        )
        .unwrap();
        b
    };
    n.handle(
        Input::Received {
            conn: c,
            bytes: &eor(Family::RT_CONSTRAINT),
        },
        now,
    );
    assert_eq!(
        ended(&events(&mut n)),
        None,
        "EVPN's End-of-RIB is still due"
    );
    n.handle(
        Input::Received {
            conn: c,
            bytes: &eor(Family::L2VPN_EVPN),
        },
        now,
    );
    assert_eq!(ended(&events(&mut n)), Some(false));

    // Nobody comes: the select-defer time ends it.
    let mut n = restarting_node(now);
    events(&mut n);
    let until = now + NodeConfig::new(ASN, rid()).select_defer_time;
    n.handle_timeout(until - Duration::from_secs(1));
    assert_eq!(ended(&events(&mut n)), None);
    n.handle_timeout(until);
    assert_eq!(ended(&events(&mut n)), Some(true));
}
