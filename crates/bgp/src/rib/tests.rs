//! RIB tests. Every byte the RIB produces is decoded again with the codec (`decode_all`) and
//! must be accepted; expectations come from the RFC rules named in each test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::MaxPrefix;
use evpnd_wire::attribute::{attr_type, flag};
use evpnd_wire::capability::BgpRole;
use evpnd_wire::message::refresh_subtype;
use evpnd_wire::{
    decode_all, AsPath, AsSegment, Community, EvpnRoute, ExtendedCommunity,
    InclusiveMulticastRoute, Label, MacAddress, MacIpRoute, Message, MpReach, MpUnreach, Origin,
    Outcome, RouteDistinguisher, RouteTarget, RtMembership, SegmentType, UnknownAttribute, Update,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

mod rtc;

const ASN: u32 = 65000;
const RID: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const EVPN: Family = Family::L2VPN_EVPN;
const RTC: Family = Family::RT_CONSTRAINT;

fn rib() -> Rib {
    Rib::new(RibConfig::new(ASN, RID))
}

/// A peer with id `n`, address/router id 198.18.1.n.
fn peer(n: u32, asn: u32, client: bool, families: &[Family]) -> PeerInfo {
    let ip = Ipv4Addr::new(198, 18, 1, n as u8);
    let mut p = PeerInfo::new(
        PeerId(n),
        IpAddr::V4(ip),
        asn,
        ip,
        asn != ASN,
        families.to_vec(),
    );
    p.rr_client = client;
    p
}

fn rt(vni: u32) -> ExtendedCommunity {
    ExtendedCommunity::route_target(RouteTarget::As2 {
        asn: 65000,
        value: vni,
    })
}

/// A type-2 MAC route `n` of RD 65001:`rd`.
fn mac(rd: u32, n: u32) -> Route {
    let b = n.to_be_bytes();
    Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: RouteDistinguisher::as2(65001, rd),
        esi: evpnd_wire::Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddress([0x02, 0, b[0], b[1], b[2], b[3]]),
        ip: None,
        label1: Label::from_vni(rd).unwrap(),
        label2: None,
    }))
}

fn nlri(r: Route) -> Nlri {
    Nlri::new(r)
}

fn vtep(n: u8) -> NextHop {
    NextHop::Ipv4(Ipv4Addr::new(198, 19, 0, n))
}

/// EVPN announcement of `routes` with `attrs` via `nh`.
fn announce(routes: &[Route], attrs: Vec<PathAttribute>, nh: NextHop) -> Update {
    let family = routes[0].family();
    Update {
        mp_reach: Some(MpReach::new(
            family,
            nh,
            routes.iter().copied().map(nlri).collect(),
        )),
        attributes: attrs,
        ..Update::default()
    }
}

fn withdraw(routes: &[Route]) -> Update {
    let family = routes[0].family();
    Update {
        mp_unreach: Some(MpUnreach::new(
            family,
            routes.iter().copied().map(nlri).collect(),
        )),
        ..Update::default()
    }
}

/// ORIGIN IGP, AS_PATH `path`, extended communities `ext` (when any), and `more`.
fn attrs(path: &[u32], ext: &[ExtendedCommunity], more: Vec<PathAttribute>) -> Vec<PathAttribute> {
    let mut v = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence(path.to_vec())),
    ];
    if !ext.is_empty() {
        v.push(PathAttribute::ExtendedCommunities(ext.to_vec()));
    }
    v.extend(more);
    v
}

fn apply(rib: &mut Rib, p: u32, u: &Update) {
    rib.apply_update(PeerId(p), u, &Outcome::Accept).unwrap();
}

/// What a peer holds after applying everything we sent it.
#[derive(Debug, Default)]
struct View {
    routes: HashMap<Route, Update>,
    eor: Vec<Family>,
    refresh_markers: Vec<u8>,
    updates: usize,
    bytes: Vec<u8>,
}

impl View {
    fn attr(&self, r: &Route, type_code: u8) -> Option<&PathAttribute> {
        self.routes.get(r).and_then(|u| u.attribute(type_code))
    }
}

/// Drains everything queued for peer `p` and applies it to `view`, decoding with the peer's
/// receive context (= our send context). Every message must decode and be accepted.
fn recv(rib: &mut Rib, info: &PeerInfo, view: &mut View) {
    for _ in 0..100_000 {
        let Some(chunk) = rib.poll_transmit(info.id) else {
            return;
        };
        view.bytes.extend_from_slice(&chunk);
        let (msgs, err) = decode_all(&info.tx, &chunk);
        assert!(err.is_none(), "undecodable output: {err:?}");
        for d in msgs {
            assert_eq!(d.outcome, Outcome::Accept, "{:?}", d.message);
            match d.message {
                Message::Update(u) => {
                    view.updates += 1;
                    if let Some(f) = u.as_end_of_rib() {
                        view.eor.push(f);
                        continue;
                    }
                    for (_, n) in u.withdrawals() {
                        view.routes.remove(&n.route);
                    }
                    let mut one = u.clone();
                    one.withdrawn.clear();
                    one.mp_unreach = None;
                    for (_, n) in u.announced() {
                        view.routes.insert(n.route, one.clone());
                    }
                }
                Message::RouteRefresh(rr) => view.refresh_markers.push(rr.subtype),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    panic!("endless output");
}

/// Brings the peers up and takes what each is sent. A peer with RT-Constraint also sends its
/// RT-Constraint End-of-RIB, as a real one does after its memberships, which releases its
/// EVPN table (RFC 4684 §6).
fn up_and_sync(rib: &mut Rib, infos: &[&PeerInfo]) -> Vec<View> {
    for i in infos {
        rib.peer_up((*i).clone());
        if i.families.contains(&RTC) {
            rib.end_of_rib(i.id, RTC);
        }
    }
    infos
        .iter()
        .map(|i| {
            let mut v = View::default();
            recv(rib, i, &mut v);
            v
        })
        .collect()
}

fn best_source(rib: &Rib, r: &Route) -> RouteSource {
    rib.best(r.family(), r).unwrap().source
}

// ---------------------------------------------------------------- best path

/// Two internal peers (1 and 2) and one external (3, AS 65003), all EVPN.
fn selection_rib() -> (Rib, PeerInfo, PeerInfo, PeerInfo) {
    let mut rib = rib();
    let a = peer(1, ASN, false, &[EVPN]);
    let b = peer(2, ASN, false, &[EVPN]);
    let e = peer(3, 65003, false, &[EVPN]);
    rib.peer_up(a.clone());
    rib.peer_up(b.clone());
    rib.peer_up(e.clone());
    (rib, a, b, e)
}

#[test]
fn best_path_highest_local_pref_wins_over_shorter_path() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    // Peer 2 has the better router id and a shorter path, but a lower LOCAL_PREF.
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[65010, 65011], &[], vec![PathAttribute::LocalPref(200)]),
            vtep(1),
        ),
    );
    apply(
        &mut rib,
        2,
        &announce(
            &[r],
            attrs(&[], &[], vec![PathAttribute::LocalPref(100)]),
            vtep(2),
        ),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(1)));
}

#[test]
fn best_path_external_paths_get_the_default_local_pref() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    // eBGP would win step 7, but its LOCAL_PREF is the default 100 < 150.
    apply(
        &mut rib,
        3,
        &announce(&[r], attrs(&[65003], &[], vec![]), vtep(3)),
    );
    apply(
        &mut rib,
        2,
        &announce(
            &[r],
            attrs(&[65010], &[], vec![PathAttribute::LocalPref(150)]),
            vtep(2),
        ),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
    // With a default above 150 the external path wins on LOCAL_PREF.
    let mut cfg = RibConfig::new(ASN, RID);
    cfg.default_local_pref = 200;
    let mut rib2 = Rib::new(cfg);
    rib2.peer_up(peer(2, ASN, false, &[EVPN]));
    rib2.peer_up(peer(3, 65003, false, &[EVPN]));
    apply(
        &mut rib2,
        2,
        &announce(
            &[r],
            attrs(&[], &[], vec![PathAttribute::LocalPref(150)]),
            vtep(2),
        ),
    );
    apply(
        &mut rib2,
        3,
        &announce(&[r], attrs(&[65003, 1, 2, 3], &[], vec![]), vtep(3)),
    );
    assert_eq!(best_source(&rib2, &r), RouteSource::Peer(PeerId(3)));
}

#[test]
fn best_path_local_route_preferred_at_equal_local_pref() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[], &[], vec![PathAttribute::LocalPref(100)]),
            vtep(1),
        ),
    );
    // Local route with a longer path: step 2 comes before AS_PATH length.
    rib.originate(EVPN, nlri(r), attrs(&[1, 2, 3], &[], vec![]), vtep(9));
    assert_eq!(best_source(&rib, &r), RouteSource::Local);
    let paths = rib.paths(EVPN, &r);
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[1].source, RouteSource::Peer(PeerId(1)));
}

#[test]
fn best_path_shortest_as_path_with_as_set_counting_one() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    let set_path = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![65010, 65011],
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: vec![1, 2, 3, 4],
            },
        ],
    };
    // Peer 1 (better router id) has 4 ASes in sequence; peer 2's path counts 2 + 1 = 3.
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[65010, 65011, 65012, 65013], &[], vec![]),
            vtep(1),
        ),
    );
    let mut a2 = attrs(&[], &[], vec![]);
    a2[1] = PathAttribute::AsPath(set_path);
    apply(&mut rib, 2, &announce(&[r], a2, vtep(2)));
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
}

#[test]
fn best_path_lowest_origin() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    let mut a1 = attrs(&[65010], &[], vec![]);
    a1[0] = PathAttribute::Origin(Origin::Incomplete);
    let mut a2 = attrs(&[65010], &[], vec![]);
    a2[0] = PathAttribute::Origin(Origin::Egp);
    apply(&mut rib, 1, &announce(&[r], a1, vtep(1)));
    apply(&mut rib, 2, &announce(&[r], a2, vtep(2)));
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
}

#[test]
fn best_path_med_only_within_the_same_neighbour_as() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    // Same neighbour AS 65010: lower MED (peer 2) wins despite the higher router id.
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[65010], &[], vec![PathAttribute::Med(20)]),
            vtep(1),
        ),
    );
    apply(
        &mut rib,
        2,
        &announce(
            &[r],
            attrs(&[65010], &[], vec![PathAttribute::Med(10)]),
            vtep(2),
        ),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
    // A missing MED counts as 0 and beats 10.
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[65010], &[], vec![]), vtep(1)),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(1)));
    // Different neighbour ASes: MED is not compared; the lower router id (peer 1) wins even
    // with the higher MED.
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[65011], &[], vec![PathAttribute::Med(500)]),
            vtep(1),
        ),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(1)));
}

#[test]
fn best_path_med_elimination_is_not_pairwise() {
    // RFC 4271 §9.1.2.2 (c) removes, per neighbour AS, the paths with a higher MED before the
    // later steps. Paths: p1 (AS 65010, MED 5, router id .1), p2 (AS 65011, MED 0, id .2),
    // p3 (AS 65010, MED 0, id .3). p1 is eliminated by p3; the winner is p2 (lower id than p3).
    let mut rib = rib();
    for n in 1..=3 {
        rib.peer_up(peer(n, ASN, false, &[EVPN]));
    }
    let r = mac(1, 1);
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[65010], &[], vec![PathAttribute::Med(5)]),
            vtep(1),
        ),
    );
    apply(
        &mut rib,
        2,
        &announce(
            &[r],
            attrs(&[65011], &[], vec![PathAttribute::Med(0)]),
            vtep(2),
        ),
    );
    apply(
        &mut rib,
        3,
        &announce(
            &[r],
            attrs(&[65010], &[], vec![PathAttribute::Med(0)]),
            vtep(3),
        ),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
}

#[test]
fn best_path_external_over_internal() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    // Equal LOCAL_PREF (100), path length 1, ORIGIN IGP; the internal peer has the lower id.
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[65003], &[], vec![PathAttribute::LocalPref(100)]),
            vtep(1),
        ),
    );
    apply(
        &mut rib,
        3,
        &announce(&[r], attrs(&[65003], &[], vec![]), vtep(3)),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(3)));
}

#[test]
fn best_path_lowest_originator_id_or_router_id() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[], vec![]), vtep(1)),
    );
    apply(
        &mut rib,
        2,
        &announce(&[r], attrs(&[], &[], vec![]), vtep(2)),
    );
    // Router ids 198.18.1.1 < 198.18.1.2.
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(1)));
    // Peer 1's path now carries ORIGINATOR_ID 198.18.9.9, which replaces its router id in the
    // comparison (RFC 4456 §9).
    let oid = PathAttribute::OriginatorId(Ipv4Addr::new(198, 18, 9, 9));
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[], vec![oid]), vtep(1)),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
}

#[test]
fn best_path_shortest_cluster_list_then_lowest_address() {
    let (mut rib, ..) = selection_rib();
    let r = mac(1, 1);
    let oid = PathAttribute::OriginatorId(Ipv4Addr::new(198, 18, 9, 9));
    let cl = |n: usize| {
        PathAttribute::ClusterList((0..n).map(|i| Ipv4Addr::new(198, 18, 8, i as u8)).collect())
    };
    // Same ORIGINATOR_ID on both: peer 2's shorter CLUSTER_LIST wins.
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[], vec![oid.clone(), cl(2)]), vtep(1)),
    );
    apply(
        &mut rib,
        2,
        &announce(&[r], attrs(&[], &[], vec![oid.clone(), cl(1)]), vtep(2)),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
    // Equal lists: the lower peer address (198.18.1.1) wins.
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[], vec![oid.clone(), cl(1)]), vtep(1)),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(1)));
}

#[test]
fn best_path_stale_paths_stay_usable_but_lose_ties() {
    let (mut rib, ..) = selection_rib();
    let now = Instant::now();
    let r = mac(1, 1);
    let r2 = mac(1, 2);
    // Two copies of one originator's route with equally long CLUSTER_LISTs, as a client gets
    // them from two reflectors: the lower peer address (peer 1) wins while both are fresh.
    let oid = PathAttribute::OriginatorId(Ipv4Addr::new(198, 18, 9, 9));
    let cl = |c: u8| PathAttribute::ClusterList(vec![Ipv4Addr::new(198, 18, 8, c)]);
    apply(
        &mut rib,
        1,
        &announce(&[r, r2], attrs(&[], &[], vec![oid.clone(), cl(1)]), vtep(1)),
    );
    apply(
        &mut rib,
        2,
        &announce(&[r], attrs(&[], &[], vec![oid.clone(), cl(2)]), vtep(2)),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(1)));
    rib.peer_down(PeerId(1), Some(Duration::from_secs(120)), now);
    // Peer 1's copy is stale: the fresh copy of peer 2 wins the tie...
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(2)));
    assert!(rib.paths(EVPN, &r)[1].stale);
    // ...but a stale path is still used when it is the only one.
    let p = rib.best(EVPN, &r2).unwrap();
    assert!(p.stale);
    // And a stale path with a better LOCAL_PREF still wins (stale only breaks ties).
    apply(
        &mut rib,
        2,
        &announce(
            &[r],
            attrs(&[], &[], vec![PathAttribute::LocalPref(50), oid, cl(2)]),
            vtep(2),
        ),
    );
    assert_eq!(best_source(&rib, &r), RouteSource::Peer(PeerId(1)));
}

/// Staleness ranks after ORIGINATOR_ID and CLUSTER_LIST (see best_path.rs): a stale path
/// beats a fresh one from an originator with a higher identifier, and a stale path beats a
/// fresh reflected copy of the same originator's route with a longer CLUSTER_LIST.
#[test]
fn best_path_stale_ranks_after_originator_and_cluster_list() {
    let (mut rib, ..) = selection_rib();
    let now = Instant::now();
    let (r, r2) = (mac(1, 1), mac(1, 2));
    // r: peer 1 (router id 198.18.1.1) and peer 2 (198.18.1.2), no ORIGINATOR_ID.
    apply(
        &mut rib,
        1,
        &announce(&[r, r2], attrs(&[], &[], vec![]), vtep(1)),
    );
    apply(
        &mut rib,
        2,
        &announce(&[r], attrs(&[], &[], vec![]), vtep(2)),
    );
    // r2: peer 2 reflects peer 1's own route (ORIGINATOR_ID = peer 1, one cluster).
    let copy = vec![
        PathAttribute::OriginatorId(Ipv4Addr::new(198, 18, 1, 1)),
        PathAttribute::ClusterList(vec![Ipv4Addr::new(198, 18, 8, 1)]),
    ];
    apply(
        &mut rib,
        2,
        &announce(&[r2], attrs(&[], &[], copy), vtep(1)),
    );
    rib.peer_down(PeerId(1), Some(Duration::from_secs(120)), now);
    let best = rib.best(EVPN, &r).unwrap();
    assert_eq!(best.source, RouteSource::Peer(PeerId(1)));
    assert!(best.stale, "the lower router id wins, stale or not");
    let best = rib.best(EVPN, &r2).unwrap();
    assert_eq!(best.source, RouteSource::Peer(PeerId(1)));
    assert!(best.stale, "the shorter CLUSTER_LIST wins, stale or not");
}

/// Everything `from` has queued for its peer `to_info`, decoded.
fn take_updates(from: &mut Rib, to_info: &PeerInfo) -> Vec<(Update, Outcome)> {
    let mut v = Vec::new();
    while let Some(chunk) = from.poll_transmit(to_info.id) {
        let (msgs, err) = decode_all(&to_info.tx, &chunk);
        assert!(err.is_none(), "undecodable output: {err:?}");
        for d in msgs {
            if let Message::Update(u) = d.message {
                v.push((u, d.outcome));
            }
        }
    }
    v
}

/// Two meshed route reflectors with a common client that restarts gracefully (the loop the
/// fabric simulator found, tests/fabric.rs `meshed_reflectors_with_a_restarting_client`).
/// Each reflector holds the client's route twice: its own (now stale) path and the other
/// reflector's copy (fresh, one cluster longer). With staleness ranked before CLUSTER_LIST
/// each preferred the other's copy, withdrew its own from the other, fell back and advertised
/// it again, forever. Now each keeps its own path and the exchange goes quiet.
#[test]
fn meshed_reflectors_do_not_trade_a_restarting_clients_routes() {
    let rr_id = |n: u8| Ipv4Addr::new(198, 19, 255, n);
    let info = |id: u32, addr: Ipv4Addr, rid: Ipv4Addr, client: bool| {
        let mut p = PeerInfo::new(PeerId(id), IpAddr::V4(addr), ASN, rid, false, vec![EVPN]);
        p.rr_client = client;
        p
    };
    let client = info(
        1,
        Ipv4Addr::new(198, 18, 0, 1),
        Ipv4Addr::new(198, 19, 0, 1),
        true,
    );
    // Each reflector knows the other as peer 2.
    let to_rr1 = info(2, Ipv4Addr::new(198, 18, 255, 2), rr_id(2), false);
    let to_rr0 = info(2, Ipv4Addr::new(198, 18, 255, 1), rr_id(1), false);
    let mut rr0 = Rib::new(RibConfig::new(ASN, rr_id(1)));
    let mut rr1 = Rib::new(RibConfig::new(ASN, rr_id(2)));
    rr0.peer_up(client.clone());
    rr0.peer_up(to_rr1.clone());
    rr1.peer_up(client.clone());
    rr1.peer_up(to_rr0.clone());
    let routes: Vec<Route> = (0..5).map(|n| mac(1, n)).collect();
    let u = announce(&routes, attrs(&[], &[rt(1)], vec![]), vtep(1));
    apply(&mut rr0, 1, &u);
    apply(&mut rr1, 1, &u);
    // Exchange until quiet; returns the UPDATEs exchanged (panics past `rounds`). Both
    // reflectors send before either receives: their UPDATEs cross on the way.
    let exchange = |rr0: &mut Rib, rr1: &mut Rib, rounds: usize| {
        let mut total = 0;
        for _ in 0..rounds {
            let to1 = take_updates(rr0, &to_rr1);
            let to0 = take_updates(rr1, &to_rr0);
            if to0.is_empty() && to1.is_empty() {
                return total;
            }
            total += to0.len() + to1.len();
            for (u, o) in &to1 {
                rr1.apply_update(PeerId(2), u, o).unwrap();
            }
            for (u, o) in &to0 {
                rr0.apply_update(PeerId(2), u, o).unwrap();
            }
        }
        panic!("the reflectors still exchange UPDATEs after {rounds} rounds ({total} so far)");
    };
    exchange(&mut rr0, &mut rr1, 10);
    for rr in [&rr0, &rr1] {
        for r in &routes {
            assert_eq!(rr.paths(EVPN, r).len(), 2, "own path and the other's copy");
            assert_eq!(best_source(rr, r), RouteSource::Peer(PeerId(1)));
        }
    }
    // The client restarts: both reflectors keep its routes as stale.
    let now = Instant::now();
    rr0.peer_down(client.id, Some(Duration::from_secs(120)), now);
    rr1.peer_down(client.id, Some(Duration::from_secs(120)), now);
    let updates = exchange(&mut rr0, &mut rr1, 10);
    assert_eq!(
        updates, 0,
        "nothing changed that the other reflector needs to hear"
    );
    for rr in [&rr0, &rr1] {
        for r in &routes {
            let best = rr.best(EVPN, r).unwrap();
            assert_eq!(best.source, RouteSource::Peer(PeerId(1)));
            assert!(best.stale);
            assert_eq!(rr.paths(EVPN, r).len(), 2, "the other's copy stays");
        }
    }
    // End-of-RIB without the routes: both withdraw, and the copies go too.
    rr0.end_of_rib(client.id, EVPN);
    rr1.end_of_rib(client.id, EVPN);
    exchange(&mut rr0, &mut rr1, 10);
    for rr in [&rr0, &rr1] {
        assert_eq!(rr.route_count(EVPN), 0);
    }
}

// ---------------------------------------------------------------- interning

#[test]
fn identical_attribute_sets_share_one_arc_and_unused_ones_are_dropped() {
    let (mut rib, ..) = selection_rib();
    let a = attrs(&[], &[rt(100)], vec![]);
    apply(&mut rib, 1, &announce(&[mac(1, 1)], a.clone(), vtep(1)));
    apply(&mut rib, 1, &announce(&[mac(1, 2)], a.clone(), vtep(1)));
    apply(&mut rib, 2, &announce(&[mac(1, 3)], a.clone(), vtep(1)));
    let p1 = rib.best(EVPN, &mac(1, 1)).unwrap();
    let p2 = rib.best(EVPN, &mac(1, 2)).unwrap();
    let p3 = rib.best(EVPN, &mac(1, 3)).unwrap();
    assert!(Arc::ptr_eq(&p1.attrs, &p2.attrs));
    assert!(Arc::ptr_eq(&p1.attrs, &p3.attrs));
    // A different next hop is a different set.
    apply(&mut rib, 1, &announce(&[mac(1, 4)], a, vtep(2)));
    let p4 = rib.best(EVPN, &mac(1, 4)).unwrap();
    assert!(!Arc::ptr_eq(&p1.attrs, &p4.attrs));
    assert_eq!(rib.attribute_sets(), 2);
    drop((p1, p2, p3, p4));
    rib.apply_update(PeerId(1), &withdraw(&[mac(1, 4)]), &Outcome::Accept)
        .unwrap();
    rib.flush();
    rib.interner.sweep();
    assert_eq!(rib.attribute_sets(), 1);
}

// ---------------------------------------------------------------- reflection and eBGP

/// Route reflector with clients 1 and 2, non-clients 3 and 4, external peer 5 (AS 65005).
fn rr() -> (Rib, Vec<PeerInfo>, Vec<View>) {
    let mut rib = rib();
    let infos = vec![
        peer(1, ASN, true, &[EVPN]),
        peer(2, ASN, true, &[EVPN]),
        peer(3, ASN, false, &[EVPN]),
        peer(4, ASN, false, &[EVPN]),
        peer(5, 65005, false, &[EVPN]),
    ];
    let refs: Vec<&PeerInfo> = infos.iter().collect();
    let views = up_and_sync(&mut rib, &refs);
    (rib, infos, views)
}

fn sync_all(rib: &mut Rib, infos: &[PeerInfo], views: &mut [View]) {
    for (i, v) in infos.iter().zip(views.iter_mut()) {
        recv(rib, i, v);
    }
}

#[test]
fn reflection_client_routes_go_to_everyone_but_the_source() {
    let (mut rib, infos, mut views) = rr();
    let r = mac(1, 1);
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[], &[rt(1)], vec![PathAttribute::LocalPref(100)]),
            vtep(1),
        ),
    );
    sync_all(&mut rib, &infos, &mut views);
    assert!(!views[0].routes.contains_key(&r), "sent back to its source");
    for v in &views[1..] {
        assert!(v.routes.contains_key(&r));
    }
    // Reflected to internal peers: ORIGINATOR_ID = the client's router id, CLUSTER_LIST =
    // [our cluster id], next hop unchanged (RFC 4456 §8).
    for v in &views[1..4] {
        assert_eq!(
            v.attr(&r, attr_type::ORIGINATOR_ID),
            Some(&PathAttribute::OriginatorId(infos[0].router_id))
        );
        assert_eq!(
            v.attr(&r, attr_type::CLUSTER_LIST),
            Some(&PathAttribute::ClusterList(vec![RID]))
        );
        assert_eq!(v.routes[&r].mp_reach.as_ref().unwrap().next_hop, vtep(1));
        assert_eq!(
            v.attr(&r, attr_type::LOCAL_PREF),
            Some(&PathAttribute::LocalPref(100))
        );
    }
    // To the external peer: our AS prepended, no LOCAL_PREF/ORIGINATOR_ID/CLUSTER_LIST,
    // next hop still the VTEP (EVPN).
    let e = &views[4];
    assert_eq!(
        e.attr(&r, attr_type::AS_PATH),
        Some(&PathAttribute::AsPath(AsPath::sequence(vec![ASN])))
    );
    assert!(e.attr(&r, attr_type::LOCAL_PREF).is_none());
    assert!(e.attr(&r, attr_type::ORIGINATOR_ID).is_none());
    assert!(e.attr(&r, attr_type::CLUSTER_LIST).is_none());
    assert_eq!(e.routes[&r].mp_reach.as_ref().unwrap().next_hop, vtep(1));
    assert_eq!(rib.peer_counters(PeerId(2)).family(EVPN).advertised, 1);
    assert_eq!(rib.peer_counters(PeerId(1)).family(EVPN).advertised, 0);
}

#[test]
fn reflection_non_client_routes_go_to_clients_and_external_only() {
    let (mut rib, infos, mut views) = rr();
    let r = mac(1, 1);
    let oid = PathAttribute::OriginatorId(Ipv4Addr::new(198, 18, 7, 7));
    let cl = PathAttribute::ClusterList(vec![Ipv4Addr::new(198, 18, 7, 1)]);
    apply(
        &mut rib,
        3,
        &announce(&[r], attrs(&[], &[rt(1)], vec![oid.clone(), cl]), vtep(3)),
    );
    sync_all(&mut rib, &infos, &mut views);
    assert!(views[0].routes.contains_key(&r));
    assert!(views[1].routes.contains_key(&r));
    assert!(!views[2].routes.contains_key(&r), "back to the source");
    assert!(
        !views[3].routes.contains_key(&r),
        "non-client to non-client"
    );
    assert!(views[4].routes.contains_key(&r));
    // An existing ORIGINATOR_ID is kept; our cluster id goes in front.
    assert_eq!(views[0].attr(&r, attr_type::ORIGINATOR_ID), Some(&oid));
    assert_eq!(
        views[0].attr(&r, attr_type::CLUSTER_LIST),
        Some(&PathAttribute::ClusterList(vec![
            RID,
            Ipv4Addr::new(198, 18, 7, 1)
        ]))
    );
    // Withdrawn: gone everywhere it was sent.
    apply(&mut rib, 3, &withdraw(&[r]));
    sync_all(&mut rib, &infos, &mut views);
    assert!(views.iter().all(|v| !v.routes.contains_key(&r)));
}

#[test]
fn external_routes_go_to_everyone_with_local_pref_added_for_internal_peers() {
    let (mut rib, infos, mut views) = rr();
    let r = mac(1, 1);
    apply(
        &mut rib,
        5,
        &announce(
            &[r],
            attrs(&[65005], &[rt(1)], vec![PathAttribute::Med(7)]),
            vtep(5),
        ),
    );
    sync_all(&mut rib, &infos, &mut views);
    for v in &views[..4] {
        assert_eq!(
            v.attr(&r, attr_type::LOCAL_PREF),
            Some(&PathAttribute::LocalPref(100))
        );
        // MED learned over eBGP may go to internal peers (RFC 4271 §5.1.4).
        assert_eq!(v.attr(&r, attr_type::MED), Some(&PathAttribute::Med(7)));
        // Not reflected: no ORIGINATOR_ID/CLUSTER_LIST.
        assert!(v.attr(&r, attr_type::ORIGINATOR_ID).is_none());
        assert_eq!(
            v.attr(&r, attr_type::AS_PATH),
            Some(&PathAttribute::AsPath(AsPath::sequence(vec![65005])))
        );
    }
    assert!(!views[4].routes.contains_key(&r));
}

#[test]
fn ebgp_prepends_our_as_and_drops_foreign_med_but_keeps_ours() {
    let mut rib = rib();
    let e1 = peer(5, 65005, false, &[EVPN]);
    let e2 = peer(6, 65006, false, &[EVPN]);
    let mut views = up_and_sync(&mut rib, &[&e1, &e2]);
    let r = mac(1, 1);
    apply(
        &mut rib,
        5,
        &announce(
            &[r],
            attrs(&[65005, 65050], &[rt(1)], vec![PathAttribute::Med(7)]),
            vtep(5),
        ),
    );
    let local = mac(1, 2);
    rib.originate(
        EVPN,
        nlri(local),
        attrs(&[], &[rt(1)], vec![PathAttribute::Med(3)]),
        vtep(1),
    );
    recv(&mut rib, &e2, &mut views[1]);
    let v = &views[1];
    assert_eq!(
        v.attr(&r, attr_type::AS_PATH),
        Some(&PathAttribute::AsPath(AsPath::sequence(vec![
            ASN, 65005, 65050
        ])))
    );
    assert!(v.attr(&r, attr_type::MED).is_none());
    assert_eq!(v.attr(&local, attr_type::MED), Some(&PathAttribute::Med(3)));
    assert_eq!(
        v.attr(&local, attr_type::AS_PATH),
        Some(&PathAttribute::AsPath(AsPath::sequence(vec![ASN])))
    );
    // The source itself gets the local route only.
    recv(&mut rib, &e1, &mut views[0]);
    assert!(views[0].routes.contains_key(&local));
    assert!(!views[0].routes.contains_key(&r));
}

#[test]
fn non_transitive_extended_communities_stay_inside_the_as() {
    let mut rib = rib();
    let e = peer(5, 65005, false, &[EVPN]);
    let i = peer(1, ASN, true, &[EVPN]);
    let mut views = up_and_sync(&mut rib, &[&e, &i]);
    let non_transitive = ExtendedCommunity([0x43, 0x00, 0, 0, 0, 0, 0, 1]);
    let r = mac(1, 1);
    rib.originate(
        EVPN,
        nlri(r),
        attrs(&[], &[rt(1), non_transitive], vec![]),
        vtep(1),
    );
    recv(&mut rib, &e, &mut views[0]);
    recv(&mut rib, &i, &mut views[1]);
    assert_eq!(views[0].routes[&r].extended_communities(), &[rt(1)]);
    assert_eq!(
        views[1].routes[&r].extended_communities(),
        &[rt(1), non_transitive]
    );
}

// ---------------------------------------------------------------- inbound loop checks

#[test]
fn loop_checks_treat_the_path_as_withdrawn() {
    let (mut rib, ..) = rr();
    let r = mac(1, 1);
    let ok = attrs(&[], &[rt(1)], vec![]);
    let cases: Vec<(u32, Vec<PathAttribute>)> = vec![
        // Our router id as ORIGINATOR_ID (RFC 4456 §8).
        (
            1,
            attrs(&[], &[rt(1)], vec![PathAttribute::OriginatorId(RID)]),
        ),
        // Our cluster id in CLUSTER_LIST (RFC 4456 §8).
        (
            1,
            attrs(
                &[],
                &[rt(1)],
                vec![PathAttribute::ClusterList(vec![
                    Ipv4Addr::new(198, 18, 3, 3),
                    RID,
                ])],
            ),
        ),
        // Our AS in the AS_PATH (RFC 4271 §9.1.2), from an external peer.
        (5, attrs(&[65005, ASN, 65009], &[rt(1)], vec![])),
        // External peer whose AS_PATH does not start with its AS (RFC 7606 §7.2).
        (5, attrs(&[65009], &[rt(1)], vec![])),
    ];
    for (p, bad) in cases {
        let good = if p == 5 {
            attrs(&[65005], &[rt(1)], vec![])
        } else {
            ok.clone()
        };
        apply(&mut rib, p, &announce(&[r], good, vtep(1)));
        assert!(rib.best(EVPN, &r).is_some());
        let before = rib.stats().loops_rejected;
        // The bad path replaces the good one: the route is gone (treat-as-withdraw).
        apply(&mut rib, p, &announce(&[r], bad.clone(), vtep(1)));
        assert!(rib.best(EVPN, &r).is_none(), "{bad:?} accepted");
        assert_eq!(rib.stats().loops_rejected, before + 1);
        assert_eq!(rib.peer_counters(PeerId(p)).family(EVPN).accepted, 0);
    }
}

// ---------------------------------------------------------------- RFC 7606 outcomes

fn malformation() -> evpnd_wire::Malformation {
    evpnd_wire::Malformation::new(23, "path_attributes", "test")
}

#[test]
fn rfc7606_outcomes_are_applied() {
    let (mut rib, infos, mut views) = rr();
    let r1 = mac(1, 1);
    let r2 = mac(1, 2);
    let r3 = mac(1, 3);
    apply(
        &mut rib,
        1,
        &announce(&[r1, r2, r3], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    assert_eq!(views[1].routes.len(), 3);

    // Treat-as-withdraw: every route named, announced or withdrawn, is withdrawn; the session
    // and the other routes stay.
    let mut u = announce(&[r1], attrs(&[], &[rt(2)], vec![]), vtep(1));
    u.mp_unreach = Some(MpUnreach::new(EVPN, vec![nlri(r2)]));
    rib.apply_update(
        PeerId(1),
        &u,
        &Outcome::TreatAsWithdraw(vec![malformation()]),
    )
    .unwrap();
    assert!(rib.best(EVPN, &r1).is_none());
    assert!(rib.best(EVPN, &r2).is_none());
    assert!(rib.best(EVPN, &r3).is_some());
    sync_all(&mut rib, &infos, &mut views);
    assert_eq!(views[1].routes.keys().collect::<Vec<_>>(), vec![&r3]);

    // Attribute discard: the (already pruned) UPDATE is used.
    let u = announce(&[r1], attrs(&[], &[rt(1)], vec![]), vtep(1));
    rib.apply_update(
        PeerId(1),
        &u,
        &Outcome::AttributeDiscard(vec![malformation()]),
    )
    .unwrap();
    assert!(rib.best(EVPN, &r1).is_some());

    // AFI/SAFI disable: all EVPN paths of the peer go, later EVPN announcements are ignored.
    rib.apply_update(
        PeerId(1),
        &Update::default(),
        &Outcome::AfiSafiDisable {
            family: EVPN,
            cause: malformation(),
        },
    )
    .unwrap();
    assert_eq!(rib.route_count(EVPN), 0);
    apply(
        &mut rib,
        1,
        &announce(&[r2], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    assert_eq!(rib.route_count(EVPN), 0);
    sync_all(&mut rib, &infos, &mut views);
    assert!(views[1].routes.is_empty());
    // Other peers are unaffected.
    apply(
        &mut rib,
        2,
        &announce(&[r2], attrs(&[], &[rt(1)], vec![]), vtep(2)),
    );
    assert_eq!(rib.route_count(EVPN), 1);
}

// ---------------------------------------------------------------- max prefix

#[test]
fn max_prefix_exceeded_reports_family_and_limit() {
    let mut rib = rib();
    let mut p = peer(1, ASN, false, &[EVPN]);
    p.max_prefix = vec![MaxPrefix {
        family: EVPN,
        limit: 2,
        restart_after: None,
    }];
    rib.peer_up(p);
    let a = attrs(&[], &[], vec![]);
    assert!(rib
        .apply_update(
            PeerId(1),
            &announce(&[mac(1, 1), mac(1, 2)], a.clone(), vtep(1)),
            &Outcome::Accept
        )
        .is_ok());
    // Re-announcing known routes does not count twice.
    assert!(rib
        .apply_update(
            PeerId(1),
            &announce(&[mac(1, 1)], a.clone(), vtep(1)),
            &Outcome::Accept
        )
        .is_ok());
    let err = rib
        .apply_update(
            PeerId(1),
            &announce(&[mac(1, 3)], a, vtep(1)),
            &Outcome::Accept,
        )
        .unwrap_err();
    assert_eq!(
        err,
        MaxPrefixExceeded {
            family: EVPN,
            limit: 2
        }
    );
    // RFC 4486 §4: Cease (6) / Maximum Number of Prefixes Reached (1); data AFI 25 (2 octets),
    // SAFI 70, limit 2 (4 octets).
    let n = err.notification();
    assert_eq!((n.code, n.subcode), (6, 1));
    assert_eq!(n.data, vec![0, 25, 70, 0, 0, 0, 2]);
}

// ---------------------------------------------------------------- graceful restart

#[test]
fn graceful_restart_keeps_stale_paths_until_end_of_rib() {
    let (mut rib, infos, mut views) = rr();
    let now = Instant::now();
    let (r1, r2) = (mac(1, 1), mac(1, 2));
    apply(
        &mut rib,
        1,
        &announce(&[r1, r2], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    rib.peer_down(PeerId(1), Some(Duration::from_secs(120)), now);
    assert_eq!(rib.poll_timeout(), Some(now + Duration::from_secs(120)));
    sync_all(&mut rib, &infos[1..], &mut views[1..]);
    // Nothing withdrawn from the others during the restart.
    assert_eq!(views[1].routes.len(), 2);
    assert!(rib.best(EVPN, &r1).unwrap().stale);
    // The peer comes back and re-announces r1 only, then End-of-RIB: r2 is purged.
    rib.peer_up(infos[0].clone());
    let mut v0 = View::default();
    apply(
        &mut rib,
        1,
        &announce(&[r1], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    assert!(!rib.best(EVPN, &r1).unwrap().stale);
    assert!(rib.best(EVPN, &r2).unwrap().stale);
    apply(&mut rib, 1, &Update::end_of_rib(EVPN));
    assert!(rib.best(EVPN, &r2).is_none());
    assert_eq!(rib.poll_timeout(), None);
    sync_all(&mut rib, &infos[1..], &mut views[1..]);
    assert_eq!(views[1].routes.keys().collect::<Vec<_>>(), vec![&r1]);
    recv(&mut rib, &infos[0], &mut v0);
    assert_eq!(v0.eor, vec![EVPN]);
}

#[test]
fn graceful_restart_timer_purges_stale_paths() {
    let (mut rib, infos, mut views) = rr();
    let now = Instant::now();
    apply(
        &mut rib,
        1,
        &announce(&[mac(1, 1)], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    rib.peer_down(PeerId(1), Some(Duration::from_secs(60)), now);
    rib.handle_timeout(now + Duration::from_secs(59));
    assert_eq!(rib.route_count(EVPN), 1);
    rib.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(rib.route_count(EVPN), 0);
    assert_eq!(rib.poll_timeout(), None);
    sync_all(&mut rib, &infos[1..], &mut views[1..]);
    assert!(views[1].routes.is_empty());
}

#[test]
fn session_down_without_graceful_restart_withdraws_at_once() {
    let (mut rib, infos, mut views) = rr();
    apply(
        &mut rib,
        1,
        &announce(&[mac(1, 1)], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    assert_eq!(views[2].routes.len(), 1);
    rib.peer_down(PeerId(1), None, Instant::now());
    sync_all(&mut rib, &infos[1..], &mut views[1..]);
    assert!(views[2].routes.is_empty());
    assert_eq!(rib.route_count(EVPN), 0);
    assert_eq!(rib.poll_transmit(PeerId(1)), None);
}

#[test]
fn deferral_holds_updates_until_released() {
    let (mut rib, infos, mut views) = rr();
    rib.set_deferral(true);
    apply(
        &mut rib,
        1,
        &announce(&[mac(1, 1)], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    assert_eq!(rib.poll_transmit(PeerId(2)), None);
    assert!(rib.poll_best_changes().is_empty());
    rib.set_deferral(false);
    assert_eq!(rib.poll_best_changes().len(), 1);
    sync_all(&mut rib, &infos, &mut views);
    assert_eq!(views[1].routes.len(), 1);
}

// ---------------------------------------------------------------- session start, refresh

#[test]
fn initial_table_then_end_of_rib_per_family() {
    let mut rib = rib();
    let rtc_route = Route::RtConstraint(RtMembership::exact(ASN, rt(1).0));
    rib.originate(
        RTC,
        nlri(rtc_route),
        attrs(&[], &[], vec![]),
        NextHop::Ipv4(RID),
    );
    let routes: Vec<Route> = (0..500).map(|n| mac(1, n)).collect();
    for r in &routes {
        rib.originate(EVPN, nlri(*r), attrs(&[], &[rt(1)], vec![]), vtep(1));
    }
    let p = peer(1, ASN, false, &[EVPN, RTC]);
    let v = up_and_sync(&mut rib, &[&p]).pop().unwrap();
    assert_eq!(
        v.routes.keys().filter(|r| r.family() == EVPN).count(),
        0,
        "RTC peer without memberships gets no EVPN route"
    );
    // It does get our RTC route (RFC 4684: memberships go to RTC peers).
    assert_eq!(v.routes.keys().collect::<Vec<_>>(), vec![&rtc_route]);
    assert!(v.eor.contains(&EVPN) && v.eor.contains(&RTC));
    // Now with a non-RTC peer: every route, in several messages, then End-of-RIB last.
    let q = peer(2, ASN, false, &[EVPN]);
    let mut w = up_and_sync(&mut rib, &[&q]).pop().unwrap();
    assert_eq!(w.routes.len(), 500);
    assert_eq!(w.eor, vec![EVPN]);
    assert!(w.updates > 2);
    let (msgs, _) = decode_all(&q.tx, &w.bytes);
    let Message::Update(last) = &msgs.last().unwrap().message else {
        panic!()
    };
    assert_eq!(last.as_end_of_rib(), Some(EVPN));
    assert_eq!(rib.peer_counters(PeerId(2)).family(EVPN).advertised, 500);
    // Route refresh re-sends the table, no End-of-RIB; enhanced refresh is bracketed by BoRR
    // and EoRR (RFC 7313 §4).
    w.routes.clear();
    rib.route_refresh(PeerId(2), EVPN);
    recv(&mut rib, &q, &mut w);
    assert_eq!(w.routes.len(), 500);
    assert_eq!(w.eor, vec![EVPN]);
    rib.route_refresh_enhanced(PeerId(2), EVPN);
    recv(&mut rib, &q, &mut w);
    assert_eq!(
        w.refresh_markers,
        vec![refresh_subtype::BEGIN, refresh_subtype::END]
    );
    assert_eq!(rib.peer_counters(PeerId(2)).family(EVPN).advertised, 500);
}

// ---------------------------------------------------------------- update groups

#[test]
fn update_group_members_share_one_encoding() {
    let mut rib = rib();
    let a = peer(5, 65005, false, &[EVPN]);
    let b = peer(6, 65005, false, &[EVPN]);
    let routes: Vec<Route> = (0..50).map(|n| mac(1, n)).collect();
    for r in &routes {
        rib.originate(EVPN, nlri(*r), attrs(&[], &[rt(1)], vec![]), vtep(1));
    }
    rib.peer_up(a.clone());
    rib.peer_up(b.clone());
    let before = rib.stats().encodings;
    let ba = rib.poll_transmit(a.id).unwrap();
    let after = rib.stats().encodings;
    let bb = rib.poll_transmit(b.id).unwrap();
    // One encoding of the 50 routes for both joiners.
    assert_eq!(after - before, 1);
    assert_eq!(ba, bb);
    // A later batch: again one encoding, identical bytes.
    let more: Vec<Route> = (100..130).map(|n| mac(1, n)).collect();
    for r in &more {
        rib.originate(EVPN, nlri(*r), attrs(&[], &[rt(1)], vec![]), vtep(1));
    }
    rib.flush();
    assert_eq!(rib.stats().encodings - after, 1);
    let (mut va, mut vb) = (View::default(), View::default());
    recv(&mut rib, &a, &mut va);
    recv(&mut rib, &b, &mut vb);
    assert_eq!(va.bytes, vb.bytes);
    assert_eq!(va.routes.len(), 30);
    // A peer with another policy (internal) gets its own encoding.
    let i = peer(1, ASN, false, &[EVPN]);
    rib.peer_up(i.clone());
    let enc = rib.stats().encodings;
    let mut vi = View::default();
    recv(&mut rib, &i, &mut vi);
    assert_eq!(rib.stats().encodings - enc, 1);
    assert_eq!(vi.routes.len(), 80);
}

#[test]
fn split_horizon_and_best_path_moving_to_a_member() {
    // Peers 1 and 2 are clients (one group). Peer 2 announces r; later peer 1 announces a
    // better path: r must be withdrawn from peer 1 (it had peer 2's version) and peer 2 gets
    // peer 1's version.
    let mut rib = rib();
    let a = peer(1, ASN, true, &[EVPN]);
    let b = peer(2, ASN, true, &[EVPN]);
    let mut v = up_and_sync(&mut rib, &[&a, &b]);
    let r = mac(1, 1);
    apply(
        &mut rib,
        2,
        &announce(&[r], attrs(&[], &[rt(1)], vec![]), vtep(2)),
    );
    recv(&mut rib, &a, &mut v[0]);
    recv(&mut rib, &b, &mut v[1]);
    assert!(v[0].routes.contains_key(&r));
    assert!(!v[1].routes.contains_key(&r));
    apply(
        &mut rib,
        1,
        &announce(
            &[r],
            attrs(&[], &[rt(1)], vec![PathAttribute::LocalPref(200)]),
            vtep(1),
        ),
    );
    recv(&mut rib, &a, &mut v[0]);
    recv(&mut rib, &b, &mut v[1]);
    assert!(
        !v[0].routes.contains_key(&r),
        "peer 1 still holds the route it now sources"
    );
    assert_eq!(v[1].routes[&r].mp_reach.as_ref().unwrap().next_hop, vtep(1));
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 0);
    assert_eq!(rib.peer_counters(b.id).family(EVPN).advertised, 1);
    // Back to peer 2's path: peer 1 gets it again, peer 2 gets a withdrawal.
    apply(&mut rib, 1, &withdraw(&[r]));
    recv(&mut rib, &a, &mut v[0]);
    recv(&mut rib, &b, &mut v[1]);
    assert_eq!(v[0].routes[&r].mp_reach.as_ref().unwrap().next_hop, vtep(2));
    assert!(!v[1].routes.contains_key(&r));
}

// ---------------------------------------------------------------- attributes

#[test]
fn unknown_transitive_attributes_pass_with_partial_and_non_transitive_are_dropped() {
    let (mut rib, infos, mut views) = rr();
    let r = mac(1, 1);
    let trans = PathAttribute::Unknown(UnknownAttribute {
        flags: flag::OPTIONAL | flag::TRANSITIVE,
        type_code: 240,
        value: vec![1, 2, 3],
    });
    let non_trans = PathAttribute::Unknown(UnknownAttribute {
        flags: flag::OPTIONAL,
        type_code: 241,
        value: vec![4],
    });
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[rt(1)], vec![trans, non_trans]), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    for v in &views[1..] {
        match v.attr(&r, 240) {
            Some(PathAttribute::Unknown(u)) => {
                assert_eq!(u.flags & flag::PARTIAL, flag::PARTIAL);
                assert_eq!(u.value, vec![1, 2, 3]);
            }
            other => panic!("{other:?}"),
        }
        assert!(v.attr(&r, 241).is_none());
    }
    // Check the raw flag octet too: the first UPDATE to peer 2 carries 0xe0 240 3 1 2 3.
    let needle = [0xe0, 240, 3, 1, 2, 3];
    assert!(views[1].bytes.windows(6).any(|w| w == needle));
}

#[test]
fn no_advertise_and_no_export_are_honoured() {
    let (mut rib, infos, mut views) = rr();
    let (r1, r2) = (mac(1, 1), mac(1, 2));
    let c = |c: Community| PathAttribute::Communities(vec![c]);
    apply(
        &mut rib,
        1,
        &announce(
            &[r1],
            attrs(&[], &[rt(1)], vec![c(Community::NO_ADVERTISE)]),
            vtep(1),
        ),
    );
    apply(
        &mut rib,
        1,
        &announce(
            &[r2],
            attrs(&[], &[rt(1)], vec![c(Community::NO_EXPORT)]),
            vtep(1),
        ),
    );
    sync_all(&mut rib, &infos, &mut views);
    for v in &views[1..4] {
        assert!(!v.routes.contains_key(&r1));
        assert!(v.routes.contains_key(&r2));
    }
    assert!(views[4].routes.is_empty());
}

#[test]
fn two_octet_as_peers_get_as_trans_and_as4_path() {
    let mut rib = Rib::new(RibConfig::new(4_200_000_001, RID));
    let mut old = peer(5, 65005, false, &[EVPN]);
    old.tx.four_octet_as = false;
    let mut new = peer(6, 4_200_000_006, false, &[EVPN]);
    new.tx.four_octet_as = true;
    let mut v = up_and_sync(&mut rib, &[&old, &new]);
    // From the 2-octet peer: AS_PATH [65005, 23456] + AS4_PATH [4200000009] is merged into
    // [65005, 4200000009] (RFC 6793 §4.2.3).
    let r = mac(1, 1);
    let u = announce(
        &[r],
        vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence(vec![65005, 23456])),
            PathAttribute::ExtendedCommunities(vec![rt(1)]),
            PathAttribute::As4Path(AsPath::sequence(vec![4_200_000_009])),
        ],
        vtep(5),
    );
    apply(&mut rib, 5, &u);
    let p = rib.best(EVPN, &r).unwrap();
    assert_eq!(
        p.attrs.as_path,
        AsPath::sequence(vec![65005, 4_200_000_009])
    );
    // To the 4-octet peer: real numbers.
    recv(&mut rib, &new, &mut v[1]);
    assert_eq!(
        v[1].attr(&r, attr_type::AS_PATH),
        Some(&PathAttribute::AsPath(AsPath::sequence(vec![
            4_200_000_001,
            65005,
            4_200_000_009
        ])))
    );
    // A local route to the 2-octet peer: AS_TRANS in AS_PATH, the real AS in AS4_PATH.
    let l = mac(1, 2);
    rib.originate(EVPN, nlri(l), attrs(&[], &[rt(1)], vec![]), vtep(1));
    recv(&mut rib, &old, &mut v[0]);
    assert_eq!(
        v[0].attr(&l, attr_type::AS_PATH),
        Some(&PathAttribute::AsPath(AsPath::sequence(vec![23456])))
    );
    assert_eq!(
        v[0].attr(&l, attr_type::AS4_PATH),
        Some(&PathAttribute::As4Path(AsPath::sequence(vec![
            4_200_000_001
        ])))
    );
}

#[test]
fn type3_routes_keep_their_pmsi_tunnel() {
    let (mut rib, infos, mut views) = rr();
    let r = Route::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
        rd: RouteDistinguisher::as2(65001, 100),
        ethernet_tag: 0,
        originator: IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1)),
    }));
    let pmsi = PathAttribute::PmsiTunnel(evpnd_wire::PmsiTunnel::ingress_replication(
        IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1)),
        Label::from_vni(100).unwrap(),
    ));
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[rt(100)], vec![pmsi.clone()]), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    assert_eq!(views[1].attr(&r, attr_type::PMSI_TUNNEL), Some(&pmsi));
    assert_eq!(views[4].attr(&r, attr_type::PMSI_TUNNEL), Some(&pmsi));
}

// ---------------------------------------------------------------- EVPN route keys

// RFC 7432 §7.1/§7.2 and RFC 9136 §3.1: labels, the ESI of types 2 and 5 and the gateway IP
// of type 5 are route attributes carried in the NLRI, not part of the route key. Types 3 and 4
// are keyed by every field (§7.3, §7.4).

fn esi(b: u8) -> evpnd_wire::Esi {
    evpnd_wire::Esi([0, 0, 0, 0, 0, 0, 0, 0, 0, b])
}

fn lbl(v: u32) -> Label {
    Label::from_vni(v).unwrap()
}

const KEY_RD: u32 = 7;

/// Type 1 (per-EVI A-D) of ESI 1, Ethernet tag 0, with `label`.
fn t1(label: u32) -> Route {
    Route::Evpn(EvpnRoute::EthernetAd(evpnd_wire::EthernetAdRoute {
        rd: RouteDistinguisher::as2(65001, KEY_RD),
        esi: esi(1),
        ethernet_tag: 0,
        label: lbl(label),
    }))
}

/// Type 2 for MAC 02:00:00:00:07:01 / 192.0.2.1 with ESI `e`, labels `l1` and `l2`.
fn t2(e: u8, l1: u32, l2: Option<u32>) -> Route {
    Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: RouteDistinguisher::as2(65001, KEY_RD),
        esi: esi(e),
        ethernet_tag: 0,
        mac: MacAddress([0x02, 0, 0, 0, 0x07, 0x01]),
        ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        label1: lbl(l1),
        label2: l2.map(lbl),
    }))
}

/// Type 3 of originator 198.18.0.`o`.
fn t3(o: u8) -> Route {
    Route::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
        rd: RouteDistinguisher::as2(65001, KEY_RD),
        ethernet_tag: 0,
        originator: IpAddr::V4(Ipv4Addr::new(198, 18, 0, o)),
    }))
}

/// Type 4 of ESI 1, originator 198.18.0.`o`.
fn t4(o: u8) -> Route {
    Route::Evpn(EvpnRoute::EthernetSegment(
        evpnd_wire::EthernetSegmentRoute {
            rd: RouteDistinguisher::as2(65001, KEY_RD),
            esi: esi(1),
            originator: IpAddr::V4(Ipv4Addr::new(198, 18, 0, o)),
        },
    ))
}

/// Type 5 for 203.0.113.0/24 with ESI `e`, gateway 198.18.0.`gw` (0: none) and `label`.
fn t5(e: u8, gw: u8, label: u32) -> Route {
    Route::Evpn(EvpnRoute::IpPrefix(evpnd_wire::IpPrefixRoute {
        rd: RouteDistinguisher::as2(65001, KEY_RD),
        esi: esi(e),
        ethernet_tag: 0,
        prefix_len: 24,
        prefix: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)),
        gateway: if gw == 0 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, gw))
        },
        label: lbl(label),
    }))
}

/// What one peer was sent since the last drain, decoded with its receive context.
#[derive(Debug, Default)]
struct Sent {
    announced: Vec<Route>,
    withdrawn: Vec<Route>,
    bytes: Vec<u8>,
}

fn drain(rib: &mut Rib, info: &PeerInfo) -> Sent {
    let mut sent = Sent::default();
    for _ in 0..10_000 {
        let Some(chunk) = rib.poll_transmit(info.id) else {
            return sent;
        };
        sent.bytes.extend_from_slice(&chunk);
        let (msgs, err) = decode_all(&info.tx, &chunk);
        assert!(err.is_none(), "undecodable output: {err:?}");
        for d in msgs {
            assert_eq!(d.outcome, Outcome::Accept, "{:?}", d.message);
            if let Message::Update(u) = d.message {
                sent.withdrawn.extend(u.withdrawals().map(|(_, n)| n.route));
                sent.announced.extend(u.announced().map(|(_, n)| n.route));
            }
        }
    }
    panic!("endless output");
}

/// Attributes of an EVPN path with LOCAL_PREF `lp`.
fn evpn_attrs(lp: u32) -> Vec<PathAttribute> {
    attrs(&[], &[rt(KEY_RD)], vec![PathAttribute::LocalPref(lp)])
}

#[test]
fn evpn_readvertisement_with_other_non_key_fields_replaces_the_path() {
    let cases = [
        ("type 1, new label", t1(100), t1(200)),
        (
            "type 2, new labels and ESI",
            t2(0, 100, None),
            t2(5, 200, Some(300)),
        ),
        (
            "type 2, label 2 dropped",
            t2(0, 100, Some(300)),
            t2(0, 100, None),
        ),
        ("type 5, new label", t5(0, 1, 100), t5(0, 1, 200)),
        ("type 5, new gateway", t5(0, 1, 100), t5(0, 2, 100)),
        (
            "type 5, gateway replaced by ESI",
            t5(0, 1, 100),
            t5(3, 0, 100),
        ),
    ];
    for (what, old, new) in cases {
        let (mut rib, infos, _) = rr();
        apply(&mut rib, 1, &announce(&[old], evpn_attrs(100), vtep(1)));
        for info in &infos[1..] {
            assert_eq!(drain(&mut rib, info).announced, vec![old], "{what}");
        }
        rib.poll_best_changes();
        apply(&mut rib, 1, &announce(&[new], evpn_attrs(100), vtep(1)));
        // One route, one path, carrying the new fields.
        assert_eq!(rib.route_count(EVPN), 1, "{what}");
        let paths = rib.paths(EVPN, &old);
        assert_eq!(paths.len(), 1, "{what}");
        assert_eq!(paths[0].route, new, "{what}");
        let all: Vec<_> = rib.loc_rib(EVPN).collect();
        assert_eq!(all.len(), 1, "{what}");
        assert_eq!(all[0].0, new, "{what}");
        assert_eq!(
            rib.peer_counters(PeerId(1)).family(EVPN).accepted,
            1,
            "{what}"
        );
        // The peers get the new NLRI as an implicit replacement (RFC 4271 §3.1): no
        // withdrawal of the old one.
        for info in &infos[1..] {
            let s = drain(&mut rib, info);
            assert_eq!(s.announced, vec![new], "{what}, {:?}", info.id);
            assert!(s.withdrawn.is_empty(), "{what}, {:?}", info.id);
        }
        assert_eq!(
            rib.peer_counters(PeerId(2)).family(EVPN).advertised,
            1,
            "{what}"
        );
        let c = rib.poll_best_changes();
        assert_eq!(c.len(), 1, "{what}");
        assert_eq!(c[0].route, new, "{what}");
    }
}

/// The label travels in the last three octets of the type-2 NLRI (RFC 7432 §7.2 layout: RD 8,
/// ESI 10, Ethernet tag 4, MAC length 1, MAC 6, IP length 1, IP 0/4/16, label 1 3, label 2 3;
/// VXLAN puts the VNI in the whole 24-bit field, RFC 8365 §5.1.3): check the bytes sent.
#[test]
fn replaced_label_is_in_the_bytes_sent() {
    let (mut rib, infos, _) = rr();
    let r = |vni: u32| with_label1(mac(KEY_RD, 0x0701), vni);
    apply(&mut rib, 1, &announce(&[r(100)], evpn_attrs(100), vtep(1)));
    drain(&mut rib, &infos[1]);
    apply(
        &mut rib,
        1,
        &announce(&[r(0x01_02_03)], evpn_attrs(100), vtep(1)),
    );
    let s = drain(&mut rib, &infos[1]);
    // type 2, length 33, RD 65001:7 (type 0), ESI 0, tag 0, MAC length 48, MAC, IP length 0,
    // label 0x010203.
    let mut nlri = vec![2, 33, 0, 0, 0xfd, 0xe9, 0, 0, 0, 7];
    nlri.extend_from_slice(&[0; 10]);
    nlri.extend_from_slice(&[0; 4]);
    nlri.extend_from_slice(&[48, 0x02, 0, 0, 0, 0x07, 0x01, 0]);
    nlri.extend_from_slice(&[0x01, 0x02, 0x03]);
    assert!(
        s.bytes.windows(nlri.len()).any(|w| w == nlri.as_slice()),
        "NLRI with the new label not found in {:02x?}",
        s.bytes
    );
    let old_label = [0x00, 0x00, 100];
    let mut old = nlri.clone();
    old.truncate(nlri.len() - 3);
    old.extend_from_slice(&old_label);
    assert!(!s.bytes.windows(old.len()).any(|w| w == old.as_slice()));
}

/// Type-2 route `r` with label 1 set to `vni`.
fn with_label1(r: Route, vni: u32) -> Route {
    match r {
        Route::Evpn(EvpnRoute::MacIp(mut m)) => {
            m.label1 = lbl(vni);
            Route::Evpn(EvpnRoute::MacIp(m))
        }
        other => panic!("not a type-2 route: {other:?}"),
    }
}

#[test]
fn evpn_withdrawal_matches_by_key_whatever_its_non_key_fields() {
    let cases = [
        ("type 1, label 0", t1(100), t1(0)),
        (
            "type 2, label 0, no label 2",
            t2(0, 100, Some(300)),
            t2(0, 0, None),
        ),
        ("type 2, other ESI", t2(5, 100, None), t2(0, 100, None)),
        ("type 5, label 0, no gateway", t5(0, 1, 100), t5(0, 0, 0)),
        ("type 3", t3(1), t3(1)),
        ("type 4", t4(1), t4(1)),
    ];
    for (what, r, w) in cases {
        let (mut rib, infos, _) = rr();
        apply(&mut rib, 1, &announce(&[r], evpn_attrs(100), vtep(1)));
        assert_eq!(drain(&mut rib, &infos[1]).announced, vec![r], "{what}");
        apply(&mut rib, 1, &withdraw(&[w]));
        assert_eq!(rib.route_count(EVPN), 0, "{what}");
        assert!(rib.best(EVPN, &r).is_none(), "{what}");
        assert_eq!(
            rib.peer_counters(PeerId(1)).family(EVPN).accepted,
            0,
            "{what}"
        );
        // The peers are sent a withdrawal of what they had been sent.
        let s = drain(&mut rib, &infos[1]);
        assert!(s.announced.is_empty(), "{what}");
        assert_eq!(s.withdrawn, vec![r], "{what}");
    }
}

#[test]
fn evpn_type3_and_type4_are_keyed_by_every_field() {
    for (what, a, b) in [("type 3", t3(1), t3(2)), ("type 4", t4(1), t4(2))] {
        let (mut rib, infos, _) = rr();
        apply(&mut rib, 1, &announce(&[a, b], evpn_attrs(100), vtep(1)));
        assert_eq!(rib.route_count(EVPN), 2, "{what}");
        // The same NLRI with other attributes replaces the path.
        apply(&mut rib, 1, &announce(&[a], evpn_attrs(200), vtep(1)));
        assert_eq!(rib.route_count(EVPN), 2, "{what}");
        assert_eq!(rib.paths(EVPN, &a).len(), 1, "{what}");
        assert_eq!(
            rib.best(EVPN, &a).unwrap().attrs.local_pref,
            Some(200),
            "{what}"
        );
        let s = drain(&mut rib, &infos[1]);
        let mut got = s.announced.clone();
        got.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn two_peers_one_mac_with_different_labels_is_one_route_with_the_best_label_advertised() {
    let (mut rib, infos, _) = rr();
    let (via1, via2) = (t2(0, 100, Some(500)), t2(0, 200, None));
    // Peer 1's path wins on LOCAL_PREF.
    apply(&mut rib, 1, &announce(&[via1], evpn_attrs(200), vtep(1)));
    apply(&mut rib, 2, &announce(&[via2], evpn_attrs(100), vtep(2)));
    assert_eq!(rib.route_count(EVPN), 1);
    let paths = rib.paths(EVPN, &via2);
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0].source, RouteSource::Peer(PeerId(1)));
    assert_eq!(paths[0].route, via1);
    assert_eq!(paths[1].source, RouteSource::Peer(PeerId(2)));
    assert_eq!(paths[1].route, via2);
    let all: Vec<_> = rib.loc_rib(EVPN).collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, via1, "the route shown is the best path's");
    assert_eq!(rib.poll_best_changes()[0].route, via1);
    // Everyone but peer 1 gets peer 1's labels; peer 2's path never leaves.
    assert!(drain(&mut rib, &infos[0]).announced.is_empty());
    for info in &infos[1..] {
        assert_eq!(drain(&mut rib, info).announced, vec![via1], "{:?}", info.id);
    }
    // The best path goes (withdrawn with label 0): peer 2's labels are advertised now.
    apply(&mut rib, 1, &withdraw(&[t2(0, 0, None)]));
    assert_eq!(rib.route_count(EVPN), 1);
    let paths = rib.paths(EVPN, &via1);
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].route, via2);
    let c = rib.poll_best_changes();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].route, via2);
    assert_eq!(c[0].best.as_ref().unwrap().route, via2);
    let s = drain(&mut rib, &infos[0]);
    assert_eq!((s.announced, s.withdrawn), (vec![via2], vec![]));
    // Peer 2's own path is now the best: it gets a withdrawal of what it had (split horizon).
    let s = drain(&mut rib, &infos[1]);
    assert_eq!((s.announced, s.withdrawn), (vec![], vec![via1]));
    for info in &infos[2..] {
        let s = drain(&mut rib, info);
        assert_eq!(s.announced, vec![via2], "{:?}", info.id);
        assert!(s.withdrawn.is_empty(), "{:?}", info.id);
    }
    // And back: peer 1 returns with a third label.
    let again = t2(0, 300, None);
    apply(&mut rib, 1, &announce(&[again], evpn_attrs(200), vtep(1)));
    assert_eq!(rib.paths(EVPN, &via1)[0].route, again);
    assert_eq!(drain(&mut rib, &infos[3]).announced, vec![again]);
}

#[test]
fn type5_paths_differing_in_gateway_are_one_route() {
    let (mut rib, infos, _) = rr();
    let (gw1, gw2) = (t5(0, 1, 100), t5(0, 2, 100));
    apply(&mut rib, 1, &announce(&[gw1], evpn_attrs(100), vtep(1)));
    apply(&mut rib, 2, &announce(&[gw2], evpn_attrs(300), vtep(2)));
    assert_eq!(rib.route_count(EVPN), 1);
    let paths = rib.paths(EVPN, &gw1);
    assert_eq!(paths.len(), 2);
    // Peer 2 wins on LOCAL_PREF: its gateway is what is advertised.
    assert_eq!(paths[0].route, gw2);
    assert_eq!(paths[1].route, gw1);
    assert_eq!(drain(&mut rib, &infos[2]).announced, vec![gw2]);
    assert_eq!(drain(&mut rib, &infos[0]).announced, vec![gw2]);
    // Peer 2 is sent nothing: the best path is its own (split horizon), and without ADD-PATH
    // only the best path is advertised.
    assert!(drain(&mut rib, &infos[1]).announced.is_empty());
}

#[test]
fn local_routes_are_keyed_like_received_ones() {
    let (mut rib, infos, _) = rr();
    let nh = vtep(9);
    rib.originate(EVPN, nlri(t2(0, 100, None)), evpn_attrs(100), nh.clone());
    assert_eq!(drain(&mut rib, &infos[0]).announced, vec![t2(0, 100, None)]);
    // A new label for the same MAC/IP replaces the local route.
    rib.originate(EVPN, nlri(t2(0, 200, Some(7))), evpn_attrs(100), nh);
    assert_eq!(rib.route_count(EVPN), 1);
    let s = drain(&mut rib, &infos[0]);
    assert_eq!(
        (s.announced, s.withdrawn),
        (vec![t2(0, 200, Some(7))], vec![])
    );
    // Withdrawn whatever label is given.
    rib.withdraw_local(EVPN, &nlri(t2(0, 0, None)));
    assert_eq!(rib.route_count(EVPN), 0);
    let s = drain(&mut rib, &infos[0]);
    assert_eq!(
        (s.announced, s.withdrawn),
        (vec![], vec![t2(0, 200, Some(7))])
    );
}

/// Non-key NLRI fields are kept in the interned attribute sets: routes that share them (the
/// usual case: one label per VNI) share one set.
#[test]
fn routes_sharing_non_key_fields_share_one_attribute_set() {
    let (mut rib, infos, _) = rr();
    let routes: Vec<Route> = (0..100)
        .map(|i| with_label1(mac(KEY_RD, i), if i < 50 { 100 } else { 200 }))
        .collect();
    apply(&mut rib, 1, &announce(&routes, evpn_attrs(100), vtep(1)));
    assert_eq!(rib.route_count(EVPN), 100);
    assert_eq!(rib.attribute_sets(), 2);
    let s = drain(&mut rib, &infos[1]);
    let mut got = s.announced;
    got.sort();
    let mut want = routes.clone();
    want.sort();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------- RT-Constraint

fn membership(vni: u32) -> Route {
    Route::RtConstraint(RtMembership::exact(ASN, rt(vni).0))
}

#[test]
fn rt_constraint_filters_and_follows_membership_changes() {
    let mut rib = rib();
    // RR with three clients: 1 and 2 negotiate RTC, 3 does not; peer 4 (client) originates.
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    let b = peer(2, ASN, true, &[EVPN, RTC]);
    let c = peer(3, ASN, true, &[EVPN]);
    let d = peer(4, ASN, true, &[EVPN]);
    let mut v = up_and_sync(&mut rib, &[&a, &b, &c, &d]);
    let rt1: Vec<Route> = (0..10).map(|n| mac(1, n)).collect();
    let rt2: Vec<Route> = (0..10).map(|n| mac(2, n)).collect();
    let none: Vec<Route> = (0..3).map(|n| mac(3, n)).collect();
    apply(
        &mut rib,
        4,
        &announce(&rt1, attrs(&[], &[rt(1)], vec![]), vtep(4)),
    );
    apply(
        &mut rib,
        4,
        &announce(&rt2, attrs(&[], &[rt(2)], vec![]), vtep(4)),
    );
    apply(
        &mut rib,
        4,
        &announce(&none, attrs(&[], &[], vec![]), vtep(4)),
    );
    // Memberships: peer 1 wants RT 1, peer 2 the default (everything).
    apply(
        &mut rib,
        1,
        &announce(
            &[membership(1)],
            attrs(&[], &[], vec![]),
            NextHop::Ipv4(Ipv4Addr::new(198, 18, 1, 1)),
        ),
    );
    apply(
        &mut rib,
        2,
        &announce(
            &[Route::RtConstraint(RtMembership::Default)],
            attrs(&[], &[], vec![]),
            NextHop::Ipv4(Ipv4Addr::new(198, 18, 1, 2)),
        ),
    );
    for (i, info) in [&a, &b, &c].into_iter().enumerate() {
        recv(&mut rib, info, &mut v[i]);
    }
    let evpn = |v: &View| v.routes.keys().filter(|r| r.family() == EVPN).count();
    assert_eq!(evpn(&v[0]), 10);
    assert!(rt1.iter().all(|r| v[0].routes.contains_key(r)));
    assert_eq!(evpn(&v[1]), 23);
    assert_eq!(evpn(&v[2]), 23, "peer without RTC gets everything");
    // Memberships are reflected: peer 2 learns peer 1's membership (RFC 4684 §3.2), peer 3
    // (no RTC) does not get RTC routes at all.
    assert!(v[1].routes.contains_key(&membership(1)));
    assert!(!v[2].routes.keys().any(|r| r.family() == RTC));
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 10);

    // Peer 1 adds RT 2: it receives the RT 2 routes; then drops RT 1: those are withdrawn.
    apply(
        &mut rib,
        1,
        &announce(
            &[membership(2)],
            attrs(&[], &[], vec![]),
            NextHop::Ipv4(Ipv4Addr::new(198, 18, 1, 1)),
        ),
    );
    recv(&mut rib, &a, &mut v[0]);
    assert_eq!(evpn(&v[0]), 20);
    apply(&mut rib, 1, &withdraw(&[membership(1)]));
    recv(&mut rib, &a, &mut v[0]);
    assert_eq!(evpn(&v[0]), 10);
    assert!(rt2.iter().all(|r| v[0].routes.contains_key(r)));
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 10);
    // New RT 1 routes are not sent to peer 1 any more; new RT 2 routes are.
    apply(
        &mut rib,
        4,
        &announce(
            &[mac(1, 99), mac(2, 99)],
            attrs(&[], &[rt(1), rt(2)], vec![]),
            vtep(4),
        ),
    );
    apply(
        &mut rib,
        4,
        &announce(&[mac(1, 98)], attrs(&[], &[rt(1)], vec![]), vtep(4)),
    );
    recv(&mut rib, &a, &mut v[0]);
    assert!(v[0].routes.contains_key(&mac(2, 99)));
    assert!(!v[0].routes.contains_key(&mac(1, 98)));
    // Withdrawals follow the filter too: peer 1 never had mac(1, 98).
    let before = v[0].updates;
    apply(&mut rib, 4, &withdraw(&[mac(1, 98)]));
    recv(&mut rib, &a, &mut v[0]);
    assert_eq!(v[0].updates, before);
}

/// The count of RT-Constraint-dirty sources equals a scan of every source, and `has_work`
/// answers as the scan it replaced did.
fn assert_rtc_dirty_count_exact(rib: &Rib) {
    let scanned = rib.sources.iter().filter(|s| s.rtc_dirty).count();
    assert_eq!(rib.rtc_dirty_sources, scanned);
    let scanning_has_work = !rib.pending.is_empty()
        || rib.tables.iter().any(|t| !t.dirty.is_empty())
        || rib.sources.iter().any(|s| s.rtc_dirty);
    assert_eq!(rib.has_work(), scanning_has_work);
}

#[test]
fn the_rt_constraint_dirty_count_follows_every_change() {
    let mut rib = rib();
    let now = Instant::now();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    let b = peer(2, ASN, true, &[EVPN, RTC]);
    let c = peer(3, ASN, true, &[EVPN]);
    let nh = |n: u8| NextHop::Ipv4(Ipv4Addr::new(198, 18, 1, n));
    let member = |rib: &mut Rib, p: u32, vni: u32| {
        apply(
            rib,
            p,
            &announce(&[membership(vni)], attrs(&[], &[], vec![]), nh(p as u8)),
        );
    };
    let check = |rib: &Rib, expected: usize| {
        assert_rtc_dirty_count_exact(rib);
        assert_eq!(rib.rtc_dirty_sources, expected);
    };
    check(&rib, 0);
    assert!(!rib.has_work());

    // A session with RTC starts with its filter to compute; one without does not.
    rib.peer_up(a.clone());
    check(&rib, 1);
    rib.peer_up(b.clone());
    check(&rib, 2);
    rib.peer_up(c.clone());
    check(&rib, 2);
    rib.flush();
    check(&rib, 0);
    assert!(!rib.has_work());
    // Re-established without a down event: marked once, however often.
    rib.peer_up(a.clone());
    rib.peer_up(a.clone());
    check(&rib, 1);
    rib.flush();
    check(&rib, 0);

    // Memberships received (adj_in) mark the sender once.
    member(&mut rib, 1, 1);
    check(&rib, 1);
    member(&mut rib, 1, 2);
    check(&rib, 1);
    member(&mut rib, 2, 1);
    check(&rib, 2);
    // A session going down clears its mark, and removing its paths sets it again.
    rib.peer_down(b.id, None, now);
    assert_rtc_dirty_count_exact(&rib);
    rib.flush();
    check(&rib, 0);

    // A withdrawn membership (path removal) marks the sender.
    apply(&mut rib, 1, &withdraw(&[membership(1)]));
    check(&rib, 1);
    // Deferral holds the work back; the count stays.
    rib.set_deferral(true);
    rib.flush();
    check(&rib, 1);
    rib.set_deferral(false);
    rib.flush();
    check(&rib, 0);

    // Graceful restart: down keeps the paths as stale (no mark); their expiry removes them
    // (a mark on the down source, cleared by the next flush).
    rib.peer_down(a.id, Some(Duration::from_secs(120)), now);
    check(&rib, 0);
    rib.handle_timeout(now + Duration::from_secs(121));
    check(&rib, 1);
    rib.flush();
    check(&rib, 0);

    // Local memberships mark no peer.
    rib.originate(RTC, nlri(membership(7)), attrs(&[], &[], vec![]), nh(9));
    rib.withdraw_local(RTC, &nlri(membership(7)));
    check(&rib, 0);
    rib.flush();
    check(&rib, 0);
}

#[test]
fn local_rtc_routes_go_to_rtc_peers() {
    let mut rib = rib();
    let a = peer(5, 65005, false, &[EVPN, RTC]);
    let mut v = up_and_sync(&mut rib, &[&a]).pop().unwrap();
    rib.originate(
        RTC,
        nlri(membership(7)),
        attrs(&[], &[], vec![]),
        NextHop::Ipv4(RID),
    );
    recv(&mut rib, &a, &mut v);
    assert!(v.routes.contains_key(&membership(7)));
    assert_eq!(
        v.attr(&membership(7), attr_type::AS_PATH),
        Some(&PathAttribute::AsPath(AsPath::sequence(vec![ASN])))
    );
    rib.withdraw_local(RTC, &nlri(membership(7)));
    recv(&mut rib, &a, &mut v);
    assert!(v.routes.is_empty());
}

/// The RT membership routes a view holds.
fn memberships_in(v: &View) -> Vec<Route> {
    let mut m: Vec<Route> = v
        .routes
        .keys()
        .filter(|r| r.family() == RTC)
        .copied()
        .collect();
    m.sort();
    m
}

/// The address of peer `n` as a next hop.
fn nh(n: u8) -> NextHop {
    NextHop::Ipv4(Ipv4Addr::new(198, 18, 1, n))
}

/// Peer `p` announces memberships of `vnis` (next hop = its address, as an originator does).
fn send_memberships(rib: &mut Rib, p: u32, vnis: &[u32], more: Vec<PathAttribute>) {
    let routes: Vec<Route> = vnis.iter().map(|v| membership(*v)).collect();
    apply(
        rib,
        p,
        &announce(&routes, attrs(&[], &[], more), nh(p as u8)),
    );
}

/// A reflector with clients 1, 2, 3 (EVPN + RTC) and client 4 (EVPN only, originates).
fn rtc_rr() -> (Rib, Vec<PeerInfo>, Vec<View>) {
    let mut rib = rib();
    let infos: Vec<PeerInfo> = (1..=3)
        .map(|n| peer(n, ASN, true, &[EVPN, RTC]))
        .chain([peer(4, ASN, true, &[EVPN])])
        .collect();
    let refs: Vec<&PeerInfo> = infos.iter().collect();
    let views = up_and_sync(&mut rib, &refs);
    (rib, infos, views)
}

/// RFC 4684 §3.2 through a reflector: clients 1 and 2 both import RT 1 and originate the same
/// membership NLRI. The best path (client 1's) is not sent back to client 1, but client 2's is:
/// every client learns a membership exactly when another peer imports the target, so each
/// client sends the reflector exactly the routes some other peer wants. Towards clients the
/// reflector is the originator.
#[test]
fn rt_memberships_reach_each_client_on_behalf_of_the_others() {
    let (mut rib, infos, mut v) = rtc_rr();
    // Client 1 first: the only importer of RT 1, nobody is told.
    send_memberships(&mut rib, 1, &[1], vec![]);
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(memberships_in(&v[0]), vec![]);
    assert_eq!(memberships_in(&v[1]), vec![membership(1)]);
    // Client 2 imports RT 1 too. The best path stays client 1's (lower router id); client 1
    // now learns that someone else imports RT 1.
    send_memberships(&mut rib, 2, &[1], vec![]);
    // Client 3 imports RT 2 only.
    send_memberships(&mut rib, 3, &[2], vec![]);
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(
        best_source(&rib, &membership(1)),
        RouteSource::Peer(PeerId(1))
    );
    assert_eq!(memberships_in(&v[0]), vec![membership(1), membership(2)]);
    assert_eq!(memberships_in(&v[1]), vec![membership(1), membership(2)]);
    assert_eq!(memberships_in(&v[2]), vec![membership(1)]);
    assert!(memberships_in(&v[3]).is_empty(), "no RTC on that session");
    // Client 1 got client 2's path; every client sees us as the originator and the next hop
    // (§3.2; the router id stands for our address).
    assert_eq!(
        v[0].routes[&membership(1)]
            .mp_reach
            .as_ref()
            .unwrap()
            .next_hop,
        NextHop::Ipv4(RID)
    );
    for view in &v[..3] {
        for m in memberships_in(view) {
            assert_eq!(
                view.attr(&m, attr_type::ORIGINATOR_ID),
                Some(&PathAttribute::OriginatorId(RID))
            );
            assert_eq!(
                view.attr(&m, attr_type::CLUSTER_LIST),
                Some(&PathAttribute::ClusterList(vec![RID]))
            );
        }
    }
    assert_eq!(rib.peer_counters(PeerId(1)).family(RTC).advertised, 2);
    assert_eq!(rib.peer_counters(PeerId(3)).family(RTC).advertised, 1);

    // EVPN: each client gets exactly the routes of the targets it imports.
    let rt1: Vec<Route> = (0..4).map(|n| mac(1, n)).collect();
    let rt2: Vec<Route> = (0..3).map(|n| mac(2, n)).collect();
    apply(
        &mut rib,
        4,
        &announce(&rt1, attrs(&[], &[rt(1)], vec![]), vtep(4)),
    );
    apply(
        &mut rib,
        4,
        &announce(&rt2, attrs(&[], &[rt(2)], vec![]), vtep(4)),
    );
    sync_all(&mut rib, &infos, &mut v);
    let evpn = |v: &View| {
        let mut r: Vec<Route> = v
            .routes
            .keys()
            .filter(|r| r.family() == EVPN)
            .copied()
            .collect();
        r.sort();
        r
    };
    let sorted = |mut r: Vec<Route>| {
        r.sort();
        r
    };
    assert_eq!(evpn(&v[0]), sorted(rt1.clone()));
    assert_eq!(evpn(&v[1]), sorted(rt1.clone()));
    assert_eq!(evpn(&v[2]), sorted(rt2.clone()));

    // Client 2 stops importing RT 1: client 1 is the only importer again and is told so.
    apply(&mut rib, 2, &withdraw(&[membership(1)]));
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(memberships_in(&v[0]), vec![membership(2)]);
    assert_eq!(memberships_in(&v[1]), vec![membership(1), membership(2)]);
    assert_eq!(memberships_in(&v[2]), vec![membership(1)]);
    assert!(evpn(&v[1]).is_empty());
    // Client 1 stops too: client 3 is told nobody imports RT 1 any more.
    apply(&mut rib, 1, &withdraw(&[membership(1)]));
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(memberships_in(&v[1]), vec![membership(2)]);
    assert_eq!(memberships_in(&v[2]), vec![]);
    assert_eq!(rib.peer_counters(PeerId(3)).family(RTC).advertised, 0);
}

/// Towards clients a membership is the reflector's own (originator and next hop, RFC 4684
/// §3.2), so the best path moving from one client's path to another's sends the other clients
/// nothing: a burst of clients joining in any order costs no re-announcement storm.
#[test]
fn rt_membership_best_path_moving_between_clients_sends_the_others_nothing() {
    let (mut rib, infos, mut v) = rtc_rr();
    // Client 3 imports RT 1 first, then client 2: the best path moves to client 2 (lower
    // router id).
    send_memberships(&mut rib, 3, &[1], vec![]);
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(memberships_in(&v[0]), vec![membership(1)]);
    send_memberships(&mut rib, 2, &[1], vec![]);
    rib.flush();
    assert_eq!(
        best_source(&rib, &membership(1)),
        RouteSource::Peer(PeerId(2))
    );
    // Client 1 already holds RT 1 with the same attributes and next hop: nothing for it.
    assert_eq!(rib.poll_transmit(PeerId(1)), None);
    // Client 3 learns RT 1 (client 2 imports it too); client 2 keeps client 3's path.
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(memberships_in(&v[2]), vec![membership(1)]);
    assert_eq!(memberships_in(&v[1]), vec![membership(1)]);
    assert_eq!(memberships_in(&v[0]), vec![membership(1)]);
}

/// A client that joins late gets, in its initial table, the memberships of the others only;
/// the best path moving onto a client withdraws nothing it should keep.
#[test]
fn rt_membership_initial_table_and_best_path_moving_onto_a_client() {
    let mut rib = rib();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    let b = peer(2, ASN, true, &[EVPN, RTC]);
    let mut va = up_and_sync(&mut rib, &[&a]).pop().unwrap();
    send_memberships(&mut rib, 1, &[1, 2], vec![]);
    recv(&mut rib, &a, &mut va);
    assert!(memberships_in(&va).is_empty());
    // Client 2 (higher router id) joins with RT 2: its initial table (sent before its own
    // memberships arrive) holds client 1's two memberships.
    let mut vb = up_and_sync(&mut rib, &[&b]).pop().unwrap();
    assert_eq!(memberships_in(&vb), vec![membership(1), membership(2)]);
    send_memberships(&mut rib, 2, &[2], vec![]);
    recv(&mut rib, &a, &mut va);
    recv(&mut rib, &b, &mut vb);
    assert_eq!(memberships_in(&va), vec![membership(2)]);
    // Client 2's path becomes the best one (higher LOCAL_PREF): client 2 keeps client 1's
    // path, client 1 keeps client 2's.
    send_memberships(&mut rib, 2, &[2], vec![PathAttribute::LocalPref(200)]);
    assert_eq!(
        best_source(&rib, &membership(2)),
        RouteSource::Peer(PeerId(2))
    );
    recv(&mut rib, &a, &mut va);
    recv(&mut rib, &b, &mut vb);
    assert_eq!(memberships_in(&va), vec![membership(2)]);
    assert_eq!(memberships_in(&vb), vec![membership(1), membership(2)]);
    // Client 1's path, as the reflector's own membership (RFC 4684 §3.2).
    assert_eq!(
        vb.routes[&membership(2)]
            .mp_reach
            .as_ref()
            .unwrap()
            .next_hop,
        NextHop::Ipv4(RID)
    );
    assert_eq!(rib.peer_counters(a.id).family(RTC).advertised, 1);
    assert_eq!(rib.peer_counters(b.id).family(RTC).advertised, 2);
}

/// Meshed reflectors (RFC 4684 §3.2 with RFC 4456 §6): peer 3 is another reflector, peer 4
/// another non-client. A client is not sent its own membership back through the other
/// reflector (ORIGINATOR_ID = its router id); a non-client gets a client's path when the best
/// path came from a non-client.
#[test]
fn rt_memberships_between_meshed_reflectors() {
    let mut rib = rib();
    let infos = vec![
        peer(1, ASN, true, &[EVPN, RTC]),
        peer(2, ASN, true, &[EVPN, RTC]),
        peer(3, ASN, false, &[EVPN, RTC]),
        peer(4, ASN, false, &[EVPN, RTC]),
    ];
    let refs: Vec<&PeerInfo> = infos.iter().collect();
    let mut v = up_and_sync(&mut rib, &refs);
    // RT 1: client 1 only; the other reflector sends client 1's own membership back (client 1
    // is its client too).
    send_memberships(&mut rib, 1, &[1], vec![]);
    let back = vec![
        PathAttribute::OriginatorId(infos[0].router_id),
        PathAttribute::ClusterList(vec![Ipv4Addr::new(198, 19, 255, 2)]),
    ];
    send_memberships(&mut rib, 3, &[1], back);
    // RT 2: client 2, and a client of the other reflector with a lower router id, whose path
    // (from a non-client) is the best one.
    send_memberships(&mut rib, 2, &[2], vec![]);
    let theirs = vec![
        PathAttribute::OriginatorId(Ipv4Addr::new(198, 18, 0, 9)),
        PathAttribute::ClusterList(vec![Ipv4Addr::new(198, 19, 255, 2)]),
    ];
    send_memberships(&mut rib, 3, &[2], theirs);
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(
        best_source(&rib, &membership(2)),
        RouteSource::Peer(PeerId(3))
    );
    // Client 1 is the only importer of RT 1 anywhere: it learns nothing of RT 1; it learns RT 2.
    assert_eq!(memberships_in(&v[0]), vec![membership(2)]);
    assert_eq!(memberships_in(&v[1]), vec![membership(1), membership(2)]);
    // The other reflector hears of RT 1 from client 1 (not its own copy) and of RT 2 from
    // client 2 (its own path is the best one).
    assert_eq!(memberships_in(&v[2]), vec![membership(1), membership(2)]);
    assert_eq!(
        v[2].attr(&membership(2), attr_type::ORIGINATOR_ID),
        Some(&PathAttribute::OriginatorId(infos[1].router_id))
    );
    // Peer 4: plain reflection sends no path from a non-client to a non-client; RFC 4684 §3.2
    // sends the client's path instead.
    assert_eq!(memberships_in(&v[3]), vec![membership(1), membership(2)]);
    assert_eq!(
        v[3].attr(&membership(2), attr_type::ORIGINATOR_ID),
        Some(&PathAttribute::OriginatorId(infos[1].router_id))
    );
}

/// Over eBGP nothing changes: memberships of other ASes are distinct routes (RFC 4684 §3.1),
/// so the plain best path with split horizon is sent, and no ORIGINATOR_ID.
#[test]
fn rt_memberships_over_ebgp_are_plain_best_paths() {
    let mut rib = rib();
    let e1 = peer(5, 65005, false, &[EVPN, RTC]);
    let e2 = peer(6, 65006, false, &[EVPN, RTC]);
    let mut v = up_and_sync(&mut rib, &[&e1, &e2]);
    let theirs = Route::RtConstraint(RtMembership::exact(65005, rt(1).0));
    apply(
        &mut rib,
        5,
        &announce(&[theirs], attrs(&[65005], &[], vec![]), nh(5)),
    );
    apply(
        &mut rib,
        6,
        &announce(&[theirs], attrs(&[65006, 65005], &[], vec![]), nh(6)),
    );
    rib.originate(RTC, nlri(membership(7)), attrs(&[], &[], vec![]), nh(9));
    recv(&mut rib, &e1, &mut v[0]);
    recv(&mut rib, &e2, &mut v[1]);
    assert_eq!(best_source(&rib, &theirs), RouteSource::Peer(PeerId(5)));
    // The best path is not sent back to its source, and the other peer's is not sent instead.
    assert_eq!(memberships_in(&v[0]), vec![membership(7)]);
    let mut both = vec![membership(7), theirs];
    both.sort();
    assert_eq!(memberships_in(&v[1]), both);
    assert!(v[1].attr(&theirs, attr_type::ORIGINATOR_ID).is_none());
    assert!(v[1]
        .attr(&membership(7), attr_type::ORIGINATOR_ID)
        .is_none());
}

/// Without reflection nothing changes either: a speaker with internal non-client peers only
/// (an NVE under two reflectors, or a full mesh) sends them its own memberships and none it
/// learned, as plain iBGP does.
#[test]
fn rt_memberships_without_reflection_are_our_own() {
    let mut rib = rib();
    let a = peer(1, ASN, false, &[EVPN, RTC]);
    let b = peer(2, ASN, false, &[EVPN, RTC]);
    let mut v = up_and_sync(&mut rib, &[&a, &b]);
    rib.originate(RTC, nlri(membership(7)), attrs(&[], &[], vec![]), nh(9));
    send_memberships(&mut rib, 1, &[7, 8], vec![]);
    send_memberships(&mut rib, 2, &[8], vec![]);
    recv(&mut rib, &a, &mut v[0]);
    recv(&mut rib, &b, &mut v[1]);
    for view in &v {
        assert_eq!(memberships_in(view), vec![membership(7)]);
        assert_eq!(
            view.routes[&membership(7)]
                .mp_reach
                .as_ref()
                .unwrap()
                .next_hop,
            nh(9)
        );
        assert!(view
            .attr(&membership(7), attr_type::ORIGINATOR_ID)
            .is_none());
    }
    rib.withdraw_local(RTC, &nlri(membership(7)));
    recv(&mut rib, &a, &mut v[0]);
    recv(&mut rib, &b, &mut v[1]);
    assert!(v.iter().all(|view| memberships_in(view).is_empty()));
}

/// Members offered the same membership path share one encoding, as every update group does.
#[test]
fn rt_membership_offers_share_encodings() {
    let (mut rib, infos, mut v) = rtc_rr();
    let vnis: Vec<u32> = (1..=10).collect();
    for p in 1..=3 {
        send_memberships(&mut rib, p, &vnis, vec![]);
    }
    let before = rib.stats().encodings;
    rib.flush();
    // Clients 2 and 3 get client 1's paths, client 1 gets client 2's: two encodings for the
    // thirty announcements.
    assert_eq!(rib.stats().encodings - before, 2);
    sync_all(&mut rib, &infos, &mut v);
    assert_eq!(v[1].bytes, v[2].bytes);
    for view in &v[..3] {
        assert_eq!(memberships_in(view).len(), 10);
    }
}

// ---------------------------------------------------------------- best-path changes

#[test]
fn best_changes_are_coalesced_per_flush() {
    let (mut rib, ..) = rr();
    let r = mac(1, 1);
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    apply(
        &mut rib,
        2,
        &announce(&[r], attrs(&[], &[rt(1)], vec![]), vtep(2)),
    );
    let c = rib.poll_best_changes();
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].best.as_ref().unwrap().source,
        RouteSource::Peer(PeerId(1))
    );
    assert!(c[0].has_route_target(&[rt(1)]));
    assert!(!c[0].has_route_target(&[rt(2)]));
    // Announce and withdraw within one batch: no change to report.
    let r2 = mac(1, 2);
    apply(
        &mut rib,
        1,
        &announce(&[r2], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    apply(&mut rib, 1, &withdraw(&[r2]));
    assert!(rib.poll_best_changes().is_empty());
    rib.apply_update(PeerId(1), &withdraw(&[r]), &Outcome::Accept)
        .unwrap();
    rib.apply_update(PeerId(2), &withdraw(&[r]), &Outcome::Accept)
        .unwrap();
    let c = rib.poll_best_changes();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].best, None);
}

// ---------------------------------------------------------------- sizes and speed

#[test]
fn stored_route_layout_is_compact() {
    // Issue #3 goal: ≤ 100 bytes per stored type-2 route. The entry (route key without the
    // non-key NLRI fields, inline path) is the per-route cost besides ~5-10 bytes of index and
    // one bit of "changed" flag.
    let entry = std::mem::size_of::<table::Entry>();
    assert!(entry <= 64, "Entry is {entry} bytes");
}

/// `n` MAC routes of VNI 100 from VTEP 1 in UPDATEs of `per_update` routes with attributes
/// `a`: what the decoder hands the RIB in the measurements below.
fn mac_updates(n: u32, per_update: usize, a: &[PathAttribute]) -> Vec<Update> {
    (0..n)
        .collect::<Vec<_>>()
        .chunks(per_update)
        .map(|c| {
            announce(
                &c.iter().map(|&i| mac(100, i)).collect::<Vec<_>>(),
                a.to_vec(),
                vtep(1),
            )
        })
        .collect()
}

/// Ingest speed of the RIB alone (no decoding): `cargo test -p evpnd-bgp --release --
/// --ignored ingest --nocapture`.
#[test]
#[ignore]
fn ingest_measurement() {
    let n: u32 = 1_000_000;
    let mut rib = rib();
    rib.set_best_change_tracking(false);
    let src = peer(1, 65001, false, &[EVPN]);
    let sink = peer(2, ASN, true, &[EVPN]);
    rib.peer_up(src.clone());
    rib.peer_up(sink.clone());
    while rib.poll_transmit(sink.id).is_some() {}
    let a = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence(vec![65001])),
        PathAttribute::ExtendedCommunities(vec![rt(100), ExtendedCommunity::vxlan_encapsulation()]),
    ];
    // Pre-built UPDATEs of 200 routes each (what the decoder hands over).
    let updates = mac_updates(n, 200, &a);
    let t0 = std::time::Instant::now();
    for u in &updates {
        rib.apply_update(src.id, u, &Outcome::Accept).unwrap();
    }
    let t_ingest = t0.elapsed();
    let t1 = std::time::Instant::now();
    let mut bytes = 0usize;
    while let Some(c) = rib.poll_transmit_shared(sink.id) {
        bytes += c.len();
    }
    let t_out = t1.elapsed();
    assert_eq!(rib.route_count(EVPN), n as usize);
    let per_route = rib.table_bytes() as f64 / f64::from(n);
    println!(
        "ingest {n} type-2 routes: {:.3} s ({:.0} routes/s); flush+encode to one group: {:.3} s ({:.0} routes/s, {} bytes); table {:.1} bytes/route (entry {} bytes)",
        t_ingest.as_secs_f64(),
        f64::from(n) / t_ingest.as_secs_f64(),
        t_out.as_secs_f64(),
        f64::from(n) / t_out.as_secs_f64(),
        bytes,
        per_route,
        std::mem::size_of::<table::Entry>(),
    );
    // Fan-out: 100 clients joining at once share one dump encoding.
    let clients: Vec<PeerInfo> = (10..110).map(|i| peer(i, ASN, true, &[EVPN])).collect();
    let t2 = std::time::Instant::now();
    for c in &clients {
        rib.peer_up(c.clone());
    }
    let mut total = 0usize;
    for c in &clients {
        while let Some(ch) = rib.poll_transmit_shared(c.id) {
            total += ch.len();
        }
    }
    println!(
        "fan-out of {n} routes to 100 clients: {:.3} s, {} bytes queued in total",
        t2.elapsed().as_secs_f64(),
        total
    );
}

/// The daemon's P1 ingest as the RIB sees it (bench/README.md): 1 M type-2 routes from an
/// internal non-client in UPDATEs of 110 routes, flushed to one client after every 16 UPDATEs
/// (one 64 KiB read), best-path changes tracked and taken (the watch feed), best of 3 runs:
/// `cargo test -p evpnd-bgp --release -- --ignored ingest_in_reads --nocapture`.
#[test]
#[ignore]
fn ingest_in_reads_measurement() {
    let n: u32 = 1_000_000;
    let a = attrs(
        &[],
        &[rt(100), ExtendedCommunity::vxlan_encapsulation()],
        vec![],
    );
    let updates = mac_updates(n, 110, &a);
    let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let mut rib = rib();
        rib.set_best_change_tracking(true);
        let src = peer(1, ASN, false, &[EVPN]);
        let sink = peer(2, ASN, true, &[EVPN]);
        rib.peer_up(src.clone());
        rib.peer_up(sink.clone());
        while rib.poll_transmit_shared(sink.id).is_some() {}
        let t0 = std::time::Instant::now();
        let cpu0 = on_cpu_ns();
        let (mut bytes, mut changes) = (0usize, 0usize);
        for read in updates.chunks(16) {
            for u in read {
                rib.apply_update(src.id, u, &Outcome::Accept).unwrap();
            }
            while let Some(c) = rib.poll_transmit_shared(sink.id) {
                bytes += c.len();
            }
            changes += rib.poll_best_changes().len();
        }
        let t = t0.elapsed().as_secs_f64();
        let cpu = (on_cpu_ns() - cpu0) as f64 / 1e9;
        assert_eq!(changes, n as usize);
        assert!(bytes > 30 * n as usize);
        best = best.min(t);
        best_cpu = best_cpu.min(cpu);
        println!(
            "ingest in reads: {n} routes in {t:.3} s ({:.0} routes/s, {cpu:.3} s on the CPU), {bytes} bytes out",
            f64::from(n) / t
        );
    }
    println!("ingest in reads: best {best:.3} s, {best_cpu:.3} s on the CPU");
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`; 0 elsewhere): less noisy than
/// wall time on a shared machine.
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn enhanced_route_refresh_from_a_peer_purges_what_it_did_not_resend() {
    let (mut rib, infos, mut views) = rr();
    let (r1, r2) = (mac(1, 1), mac(1, 2));
    apply(
        &mut rib,
        1,
        &announce(&[r1, r2], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    rib.begin_of_route_refresh(PeerId(1), EVPN);
    assert!(rib.best(EVPN, &r1).unwrap().stale);
    // Stale marking changes no best path here: nothing is sent.
    sync_all(&mut rib, &infos, &mut views);
    apply(
        &mut rib,
        1,
        &announce(&[r1], attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    rib.end_of_route_refresh(PeerId(1), EVPN);
    assert!(!rib.best(EVPN, &r1).unwrap().stale);
    assert!(rib.best(EVPN, &r2).is_none());
    sync_all(&mut rib, &infos, &mut views);
    assert_eq!(views[1].routes.keys().collect::<Vec<_>>(), vec![&r1]);
}

#[test]
fn ipv4_unicast_and_add_path() {
    let mut rib = rib();
    let v4 = Family::IPV4_UNICAST;
    // Peer 1 sends with ADD-PATH path identifiers; peer 2 receives with them.
    let a = peer(1, ASN, true, &[v4]);
    let mut b = peer(2, ASN, true, &[v4]);
    b.tx.add_path = vec![v4];
    let mut v = up_and_sync(&mut rib, &[&a, &b]);
    assert_eq!(v[1].eor, vec![v4]);
    let pfx = |n: u8| {
        Route::Ipv4(
            evpnd_wire::IpPrefix::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)), 32).unwrap(),
        )
    };
    let u = Update {
        nlri: vec![
            Nlri {
                path_id: Some(7),
                route: pfx(1),
            },
            Nlri {
                path_id: Some(8),
                route: pfx(1),
            },
        ],
        attributes: attrs(
            &[],
            &[],
            vec![PathAttribute::NextHop(Ipv4Addr::new(198, 18, 1, 1))],
        ),
        ..Update::default()
    };
    apply(&mut rib, 1, &u);
    // Two paths of one route from one peer, told apart by their identifiers.
    let paths = rib.paths(v4, &pfx(1));
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0].path_id, Some(7));
    recv(&mut rib, &b, &mut v[1]);
    let got = &v[1].routes[&pfx(1)];
    assert_eq!(got.nlri[0].path_id, Some(1));
    assert_eq!(
        got.attribute(attr_type::NEXT_HOP),
        Some(&PathAttribute::NextHop(Ipv4Addr::new(198, 18, 1, 1)))
    );
    // Withdrawing path 7 leaves path 8.
    let w = Update {
        withdrawn: vec![Nlri {
            path_id: Some(7),
            route: pfx(1),
        }],
        ..Update::default()
    };
    apply(&mut rib, 1, &w);
    assert_eq!(rib.paths(v4, &pfx(1))[0].path_id, Some(8));
}

/// Route-reflector fan-out by deltas: 100 clients are up, one client sends 1 M type-2 routes,
/// every other client receives them. `cargo test -p evpnd-bgp --release -- --ignored fanout
/// --nocapture`.
#[test]
#[ignore]
fn fanout_measurement() {
    let n: u32 = 1_000_000;
    let mut rib = rib();
    rib.set_best_change_tracking(false);
    let clients: Vec<PeerInfo> = (1..=101).map(|i| peer(i, ASN, true, &[EVPN])).collect();
    for c in &clients {
        rib.peer_up(c.clone());
    }
    for c in &clients {
        while rib.poll_transmit_shared(c.id).is_some() {}
    }
    let a = attrs(
        &[],
        &[rt(100), ExtendedCommunity::vxlan_encapsulation()],
        vec![],
    );
    let updates = mac_updates(n, 200, &a);
    let t0 = std::time::Instant::now();
    let mut total = 0usize;
    // The daemon's loop: apply what arrived, then serve the peers.
    for batch in updates.chunks(500) {
        for u in batch {
            rib.apply_update(clients[0].id, u, &Outcome::Accept)
                .unwrap();
        }
        for c in &clients[1..] {
            while let Some(ch) = rib.poll_transmit_shared(c.id) {
                total += ch.len();
            }
        }
    }
    let t = t0.elapsed();
    assert_eq!(
        rib.peer_counters(clients[1].id).family(EVPN).advertised,
        u64::from(n)
    );
    println!(
        "fan-out by deltas of {n} routes to 100 clients: {:.3} s ({:.0} routes/s in), {} bytes handed out, {} encodings",
        t.as_secs_f64(),
        f64::from(n) / t.as_secs_f64(),
        total,
        rib.stats().encodings
    );
}

// ---------------------------------------------------------------- BGP Roles / OTC (RFC 9234 §5)

const V4: Family = Family::IPV4_UNICAST;
const OTC: u8 = attr_type::ONLY_TO_CUSTOMER;

/// The host route 203.0.113.`n`/32.
fn pfx(n: u8) -> Route {
    Route::Ipv4(evpnd_wire::IpPrefix::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)), 32).unwrap())
}

/// An external peer `n` of AS `asn` with our BGP Role `role` towards it.
fn role_peer(n: u32, asn: u32, role: Option<BgpRole>, families: &[Family]) -> PeerInfo {
    let mut p = peer(n, asn, false, families);
    p.local_role = role;
    p
}

/// IPv4 unicast announcement of `routes` with AS_PATH `path` and, when given, OTC.
fn announce_v4(routes: &[Route], path: &[u32], otc: Option<u32>) -> Update {
    let mut more = vec![PathAttribute::NextHop(Ipv4Addr::new(198, 18, 1, 9))];
    more.extend(otc.map(PathAttribute::OnlyToCustomer));
    Update {
        nlri: routes.iter().copied().map(nlri).collect(),
        attributes: attrs(path, &[], more),
        ..Update::default()
    }
}

/// The OTC of the stored best path of `r` (`None` when the route is absent or has none).
fn stored_otc(rib: &Rib, r: &Route) -> Option<u32> {
    rib.best(r.family(), r)
        .and_then(|p| p.attrs.only_to_customer)
}

#[test]
fn otc_ingress_a_route_with_otc_from_a_customer_or_rs_client_is_a_leak() {
    // Our role Provider: the neighbour is a Customer; RS: an RS-Client.
    for role in [BgpRole::PROVIDER, BgpRole::RS] {
        let mut rib = rib();
        rib.peer_up(role_peer(5, 65005, Some(role), &[V4]));
        let r = pfx(1);
        // Without OTC: accepted and not marked (routes from below stay unmarked).
        apply(&mut rib, 5, &announce_v4(&[r], &[65005], None));
        assert!(rib.best(V4, &r).is_some());
        assert_eq!(stored_otc(&rib, &r), None, "{}", role.name());
        // With OTC: a leak, ineligible; it replaces the earlier path (treat-as-withdraw).
        apply(&mut rib, 5, &announce_v4(&[r], &[65005], Some(65099)));
        assert!(rib.best(V4, &r).is_none(), "{}", role.name());
        assert_eq!(rib.stats().leaks_rejected, 1);
        assert_eq!(rib.stats().loops_rejected, 0);
        assert_eq!(rib.peer_counters(PeerId(5)).family(V4).accepted, 0);
    }
}

#[test]
fn otc_ingress_a_route_from_a_peer_must_carry_the_peers_as() {
    let mut rib = rib();
    rib.peer_up(role_peer(5, 65005, Some(BgpRole::PEER), &[V4]));
    let (r1, r2) = (pfx(1), pfx(2));
    apply(&mut rib, 5, &announce_v4(&[r1], &[65005], Some(65005)));
    assert_eq!(
        stored_otc(&rib, &r1),
        Some(65005),
        "the Peer's own AS: kept"
    );
    apply(&mut rib, 5, &announce_v4(&[r2], &[65005], Some(65099)));
    assert!(rib.best(V4, &r2).is_none(), "another AS: a leak");
    assert_eq!(rib.stats().leaks_rejected, 1);
}

#[test]
fn otc_ingress_routes_from_providers_peers_and_route_servers_are_marked() {
    // Our role Customer: the neighbour is a Provider; Peer: a Peer; RS-Client: an RS.
    for role in [BgpRole::CUSTOMER, BgpRole::PEER, BgpRole::RS_CLIENT] {
        let mut rib = rib();
        let e = role_peer(5, 65005, Some(role), &[V4]);
        let i = peer(1, ASN, false, &[V4]);
        let mut views = up_and_sync(&mut rib, &[&e, &i]);
        let r = pfx(1);
        apply(&mut rib, 5, &announce_v4(&[r], &[65005], None));
        assert_eq!(stored_otc(&rib, &r), Some(65005), "{}", role.name());
        // The mark travels on inside the AS, unchanged.
        recv(&mut rib, &i, &mut views[1]);
        assert_eq!(
            views[1].attr(&r, OTC),
            Some(&PathAttribute::OnlyToCustomer(65005)),
            "{}",
            role.name()
        );
        assert_eq!(rib.stats().leaks_rejected, 0);
    }
    // A Provider's route that already has OTC keeps it as it is.
    let mut rib = rib();
    rib.peer_up(role_peer(5, 65005, Some(BgpRole::CUSTOMER), &[V4]));
    apply(
        &mut rib,
        5,
        &announce_v4(&[pfx(1)], &[65005, 65099], Some(65099)),
    );
    assert_eq!(stored_otc(&rib, &pfx(1)), Some(65099));
}

#[test]
fn otc_ingress_needs_a_role_an_external_session_and_a_unicast_family() {
    let mut rib = rib();
    // No role: nothing checked, nothing marked.
    rib.peer_up(role_peer(5, 65005, None, &[V4]));
    // A role on an iBGP session is not in effect.
    let mut ibgp = peer(1, ASN, false, &[V4]);
    ibgp.local_role = Some(BgpRole::PROVIDER);
    rib.peer_up(ibgp);
    // EVPN: RFC 9234 §5 applies to IPv4/IPv6 unicast only.
    rib.peer_up(role_peer(6, 65006, Some(BgpRole::PROVIDER), &[EVPN]));
    rib.peer_up(role_peer(7, 65007, Some(BgpRole::CUSTOMER), &[EVPN]));
    apply(&mut rib, 5, &announce_v4(&[pfx(1)], &[65005], Some(65099)));
    assert_eq!(stored_otc(&rib, &pfx(1)), Some(65099));
    apply(&mut rib, 5, &announce_v4(&[pfx(2)], &[65005], None));
    assert_eq!(stored_otc(&rib, &pfx(2)), None);
    apply(&mut rib, 1, &announce_v4(&[pfx(3)], &[], Some(65099)));
    assert_eq!(stored_otc(&rib, &pfx(3)), Some(65099));
    let (m1, m2) = (mac(1, 1), mac(1, 2));
    let otc = vec![PathAttribute::OnlyToCustomer(65099)];
    apply(
        &mut rib,
        6,
        &announce(&[m1], attrs(&[65006], &[rt(1)], otc), vtep(6)),
    );
    assert_eq!(stored_otc(&rib, &m1), Some(65099));
    apply(
        &mut rib,
        7,
        &announce(&[m2], attrs(&[65007], &[rt(1)], vec![]), vtep(7)),
    );
    assert!(rib.best(EVPN, &m2).is_some());
    assert_eq!(stored_otc(&rib, &m2), None);
    assert_eq!(rib.stats().leaks_rejected, 0);
}

/// One external IPv4 peer per role of ours (ids 11-15, AS 65011-65015: Provider, RS,
/// RS-Client, Customer, Peer), one external peer without a role (16) and one internal peer
/// (1), in that order.
fn egress_rib() -> (Rib, Vec<PeerInfo>, Vec<View>) {
    let mut rib = rib();
    let roles = [
        BgpRole::PROVIDER,
        BgpRole::RS,
        BgpRole::RS_CLIENT,
        BgpRole::CUSTOMER,
        BgpRole::PEER,
    ];
    let mut infos: Vec<PeerInfo> = roles
        .iter()
        .enumerate()
        .map(|(i, r)| role_peer(11 + i as u32, 65011 + i as u32, Some(*r), &[V4]))
        .collect();
    infos.push(role_peer(16, 65016, None, &[V4]));
    infos.push(peer(1, ASN, false, &[V4]));
    let refs: Vec<&PeerInfo> = infos.iter().collect();
    let views = up_and_sync(&mut rib, &refs);
    (rib, infos, views)
}

#[test]
fn otc_egress_routes_to_customers_peers_and_rs_clients_get_our_as() {
    let (mut rib, infos, mut views) = egress_rib();
    let r = pfx(1);
    rib.originate(
        V4,
        nlri(r),
        attrs(&[], &[], vec![]),
        NextHop::Ipv4(Ipv4Addr::new(198, 19, 0, 1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    let expected = [
        Some(ASN), // our role Provider: to a Customer
        Some(ASN), // RS: to an RS-Client
        None,      // RS-Client: to an RS
        None,      // Customer: to a Provider
        Some(ASN), // Peer: to a Peer
        None,      // no role
        None,      // iBGP
    ];
    for (i, want) in expected.into_iter().enumerate() {
        assert!(views[i].routes.contains_key(&r), "peer {}", infos[i].id.0);
        assert_eq!(
            views[i].attr(&r, OTC),
            want.map(PathAttribute::OnlyToCustomer).as_ref(),
            "peer {}",
            infos[i].id.0
        );
    }
    // The stored route is untouched: the mark is made on the way out.
    assert_eq!(stored_otc(&rib, &r), None);
}

#[test]
fn otc_egress_routes_with_otc_do_not_go_to_providers_peers_or_route_servers() {
    let (mut rib, infos, mut views) = egress_rib();
    let r = pfx(1);
    // From the internal peer: first without OTC, then with it (as if marked by another
    // border router of our AS).
    apply(&mut rib, 1, &announce_v4(&[r], &[], None));
    sync_all(&mut rib, &infos, &mut views);
    assert!(views[..6].iter().all(|v| v.routes.contains_key(&r)));
    apply(&mut rib, 1, &announce_v4(&[r], &[], Some(65099)));
    sync_all(&mut rib, &infos, &mut views);
    // Our role Provider, RS, and no role: sent with the OTC unchanged. RS-Client, Customer,
    // Peer (to an RS, a Provider, a Peer): withdrawn.
    for (i, sent) in [true, true, false, false, false, true]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            views[i].routes.contains_key(&r),
            sent,
            "peer {}",
            infos[i].id.0
        );
        if sent {
            assert_eq!(
                views[i].attr(&r, OTC),
                Some(&PathAttribute::OnlyToCustomer(65099))
            );
        }
    }
    assert_eq!(rib.peer_counters(PeerId(13)).family(V4).advertised, 0);
    // Other attributes are as for any external peer: our AS prepended to the AS_PATH.
    assert_eq!(
        views[0].attr(&r, attr_type::AS_PATH),
        Some(&PathAttribute::AsPath(AsPath::sequence(vec![ASN])))
    );
}

#[test]
fn otc_a_providers_route_reaches_customers_only() {
    // The route leak of RFC 9234 §1 prevented: a route from our Provider (marked on ingress)
    // goes to our Customer, not to another Provider nor to a Peer.
    let mut rib = rib();
    let provider = role_peer(5, 65005, Some(BgpRole::CUSTOMER), &[V4]);
    let other_provider = role_peer(6, 65006, Some(BgpRole::CUSTOMER), &[V4]);
    let lateral = role_peer(7, 65007, Some(BgpRole::PEER), &[V4]);
    let customer = role_peer(8, 65008, Some(BgpRole::PROVIDER), &[V4]);
    let infos = [provider, other_provider, lateral, customer];
    let refs: Vec<&PeerInfo> = infos.iter().collect();
    let mut views = up_and_sync(&mut rib, &refs);
    let r = pfx(1);
    apply(&mut rib, 5, &announce_v4(&[r], &[65005], None));
    sync_all(&mut rib, &infos, &mut views);
    assert!(!views[1].routes.contains_key(&r));
    assert!(!views[2].routes.contains_key(&r));
    assert_eq!(
        views[3].attr(&r, OTC),
        Some(&PathAttribute::OnlyToCustomer(65005))
    );
}

#[test]
fn peers_with_different_roles_are_in_different_update_groups_where_otc_applies() {
    let mut rib = rib();
    for (n, role) in [
        (5, BgpRole::PROVIDER),
        (6, BgpRole::CUSTOMER),
        (7, BgpRole::PROVIDER),
    ] {
        rib.peer_up(role_peer(n, 65000 + n, Some(role), &[V4, EVPN]));
    }
    rib.flush();
    let members = |family: Family| {
        let mut m: Vec<Vec<u32>> = rib
            .groups
            .iter()
            .filter(|g| g.key.family == family)
            .map(|g| g.members.as_slice().to_vec())
            .collect();
        m.sort();
        m
    };
    // Unicast: the two Provider-role peers share a group, the Customer-role peer has its own.
    assert_eq!(members(V4), vec![vec![0, 2], vec![1]]);
    // EVPN: the role changes nothing there, one group.
    assert_eq!(members(EVPN), vec![vec![0, 1, 2]]);
}

#[test]
fn ipv6_extended_communities_and_otc_are_relayed() {
    use evpnd_wire::{Ipv6ExtCommunityKind, Ipv6ExtendedCommunity};
    let (mut rib, infos, mut views) = rr();
    let addr = "2001:db8::1".parse().unwrap();
    let rt6 = Ipv6ExtendedCommunity::new(Ipv6ExtCommunityKind::RouteTarget { addr, value: 100 });
    let mut raw = [0u8; 20];
    raw[0] = 0x40; // non-transitive (RFC 5701 §2)
    raw[1] = 0x02;
    let local6 = Ipv6ExtendedCommunity(raw);
    let r = mac(1, 1);
    let more = vec![
        PathAttribute::Ipv6ExtendedCommunities(vec![rt6, local6]),
        PathAttribute::OnlyToCustomer(65099),
    ];
    apply(
        &mut rib,
        1,
        &announce(&[r], attrs(&[], &[rt(1)], more), vtep(1)),
    );
    // Stored, and listed by to_attributes, with both.
    let stored = rib.best(EVPN, &r).unwrap().attrs.to_attributes();
    assert!(stored.contains(&PathAttribute::OnlyToCustomer(65099)));
    assert!(stored.contains(&PathAttribute::Ipv6ExtendedCommunities(vec![rt6, local6])));
    sync_all(&mut rib, &infos, &mut views);
    // Internal peers: both attributes as received.
    for v in &views[1..4] {
        assert_eq!(
            v.attr(&r, attr_type::IPV6_EXTENDED_COMMUNITIES),
            Some(&PathAttribute::Ipv6ExtendedCommunities(vec![rt6, local6]))
        );
        assert_eq!(v.attr(&r, OTC), Some(&PathAttribute::OnlyToCustomer(65099)));
    }
    // External peer (no role): OTC unchanged, the non-transitive community removed.
    assert_eq!(
        views[4].attr(&r, attr_type::IPV6_EXTENDED_COMMUNITIES),
        Some(&PathAttribute::Ipv6ExtendedCommunities(vec![rt6]))
    );
    assert_eq!(
        views[4].attr(&r, OTC),
        Some(&PathAttribute::OnlyToCustomer(65099))
    );
    // Only non-transitive ones: no attribute at all to the external peer.
    let r2 = mac(1, 2);
    let more = vec![PathAttribute::Ipv6ExtendedCommunities(vec![local6])];
    apply(
        &mut rib,
        1,
        &announce(&[r2], attrs(&[], &[rt(1)], more), vtep(1)),
    );
    sync_all(&mut rib, &infos, &mut views);
    assert!(views[4].routes.contains_key(&r2));
    assert!(views[4]
        .attr(&r2, attr_type::IPV6_EXTENDED_COMMUNITIES)
        .is_none());
}

#[test]
fn a_listing_resumes_after_the_slot_it_stopped_at() {
    let mut rib = rib();
    let routes: Vec<Route> = (0..10).map(|n| mac(1, n)).collect();
    for r in &routes {
        rib.originate(EVPN, nlri(*r), attrs(&[], &[], vec![]), vtep(1));
    }
    // A hole in the table: the listing skips it.
    rib.withdraw_local(EVPN, &nlri(routes[3]));
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page: Vec<(u32, Route)> = rib
            .loc_rib_from(EVPN, from)
            .take(3)
            .map(|(slot, r, _)| (slot, r))
            .collect();
        let Some(&(last, _)) = page.last() else {
            break;
        };
        assert!(page.windows(2).all(|w| w[0].0 < w[1].0));
        seen.extend(page.into_iter().map(|(_, r)| r));
        from = last + 1;
    }
    let want: Vec<Route> = rib.loc_rib(EVPN).map(|(r, _)| r).collect();
    assert_eq!(seen, want);
    assert_eq!(seen.len(), 9);
    assert_eq!(rib.loc_rib_from(EVPN, u32::MAX).count(), 0);
    assert_eq!(rib.loc_rib_from(RTC, 0).count(), 0);
}
