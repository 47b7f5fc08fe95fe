//! RT-Constraint done right (issue 12, RFC 4684): the hold-back until the peer's
//! RT-Constraint End-of-RIB (§6), exact deltas on membership changes (§4), the default and
//! prefix memberships, and the O(changed) bookkeeping around them (ready list, slot reuse).

use super::*;

/// What a peer was sent, in order: one entry per message.
#[derive(Debug, PartialEq, Eq)]
enum Msg {
    /// Routes announced in one family.
    Announce(Family, Vec<Route>),
    /// Routes withdrawn in one family.
    Withdraw(Family, Vec<Route>),
    /// End-of-RIB of a family.
    Eor(Family),
}

/// Drains everything queued for `info` and decodes it, in order.
fn drain_msgs(rib: &mut Rib, info: &PeerInfo) -> Vec<Msg> {
    let mut bytes = Vec::new();
    while let Some(c) = rib.poll_transmit(info.id) {
        bytes.extend_from_slice(&c);
    }
    let (msgs, err) = decode_all(&info.tx, &bytes);
    assert!(err.is_none(), "undecodable output: {err:?}");
    let mut out = Vec::new();
    for d in msgs {
        assert_eq!(d.outcome, Outcome::Accept);
        let Message::Update(u) = d.message else {
            panic!("unexpected {:?}", d.message)
        };
        if let Some(f) = u.as_end_of_rib() {
            out.push(Msg::Eor(f));
            continue;
        }
        let w: Vec<(Family, Route)> = u.withdrawals().map(|(f, n)| (f, n.route)).collect();
        if let Some((f, _)) = w.first() {
            out.push(Msg::Withdraw(*f, w.iter().map(|x| x.1).collect()));
        }
        let a: Vec<(Family, Route)> = u.announced().map(|(f, n)| (f, n.route)).collect();
        if let Some((f, _)) = a.first() {
            out.push(Msg::Announce(*f, a.iter().map(|x| x.1).collect()));
        }
    }
    out
}

/// EVPN routes announced in `msgs`, sorted.
fn announced(msgs: &[Msg]) -> Vec<Route> {
    let mut v: Vec<Route> = msgs
        .iter()
        .filter_map(|m| match m {
            Msg::Announce(f, r) if *f == EVPN => Some(r.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    v.sort();
    v
}

/// EVPN routes withdrawn in `msgs`, sorted.
fn withdrawn(msgs: &[Msg]) -> Vec<Route> {
    let mut v: Vec<Route> = msgs
        .iter()
        .filter_map(|m| match m {
            Msg::Withdraw(f, r) if *f == EVPN => Some(r.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<Route>) -> Vec<Route> {
    v.sort();
    v
}

/// `n` MAC routes of VNI `vni` (RD 65001:`vni`).
fn macs(vni: u32, n: u32) -> Vec<Route> {
    (0..n).map(|i| mac(vni, i)).collect()
}

/// A reflector whose client 9 (EVPN only) originates 5 routes in each of VNIs 1, 2 and 3,
/// plus `both` = 2 routes carrying RT 1 and RT 2.
fn origin_rib() -> (Rib, PeerInfo) {
    let mut rib = rib();
    let origin = peer(9, ASN, true, &[EVPN]);
    rib.peer_up(origin.clone());
    for vni in 1..=3 {
        apply(
            &mut rib,
            9,
            &announce(&macs(vni, 5), attrs(&[], &[rt(vni)], vec![]), vtep(9)),
        );
    }
    apply(
        &mut rib,
        9,
        &announce(&both(), attrs(&[], &[rt(1), rt(2)], vec![]), vtep(9)),
    );
    rib.flush();
    (rib, origin)
}

/// Two routes carrying RT 1 and RT 2.
fn both() -> Vec<Route> {
    vec![mac(12, 1), mac(12, 2)]
}

/// RFC 4684 §6: nothing of EVPN reaches an RT-Constraint peer before its RT-Constraint
/// End-of-RIB, whatever memberships it sends meanwhile; then exactly the routes of its
/// memberships, and only after them the EVPN End-of-RIB.
#[test]
fn evpn_routes_wait_for_the_rtc_end_of_rib_then_exactly_the_members_then_end_of_rib() {
    let (mut rib, _) = origin_rib();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    let now = Instant::now();
    rib.peer_up_at(a.clone(), now);
    // Memberships go out at once (our RT-Constraint table, empty here, and its End-of-RIB);
    // no EVPN message at all, not even End-of-RIB.
    assert_eq!(drain_msgs(&mut rib, &a), vec![Msg::Eor(RTC)]);
    send_memberships(&mut rib, 1, &[1, 3], vec![]);
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);
    assert_eq!(
        rib.poll_timeout(),
        Some(now + RibConfig::DEFAULT_RTC_END_OF_RIB_WAIT)
    );
    // A route refresh meanwhile is covered by the table still to come.
    rib.route_refresh(a.id, EVPN);
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);

    rib.end_of_rib(a.id, RTC);
    assert_eq!(rib.poll_timeout(), None, "the wait timer is gone");
    let msgs = drain_msgs(&mut rib, &a);
    let mut want: Vec<Route> = macs(1, 5);
    want.extend(macs(3, 5));
    want.extend(both());
    assert_eq!(announced(&msgs), sorted(want));
    assert_eq!(
        msgs.last(),
        Some(&Msg::Eor(EVPN)),
        "End-of-RIB after the routes"
    );
    assert_eq!(
        msgs.iter().filter(|m| **m == Msg::Eor(EVPN)).count(),
        1,
        "one End-of-RIB"
    );
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 12);
    // Later changes flow as usual.
    apply(
        &mut rib,
        9,
        &announce(&[mac(3, 77)], attrs(&[], &[rt(3)], vec![]), vtep(9)),
    );
    assert_eq!(
        drain_msgs(&mut rib, &a),
        vec![Msg::Announce(EVPN, vec![mac(3, 77)])]
    );
}

/// An RT-Constraint End-of-RIB through `apply_update` releases the table too, for a peer
/// without stale paths; a peer without RT-Constraint is not held at all.
#[test]
fn the_rtc_end_of_rib_update_releases_and_peers_without_rtc_are_not_held() {
    let (mut rib, _) = origin_rib();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    let c = peer(3, ASN, true, &[EVPN]);
    rib.peer_up(a.clone());
    rib.peer_up(c.clone());
    let msgs = drain_msgs(&mut rib, &c);
    assert_eq!(announced(&msgs).len(), 17);
    assert_eq!(msgs.last(), Some(&Msg::Eor(EVPN)));
    send_memberships(&mut rib, 1, &[2], vec![]);
    assert_eq!(drain_msgs(&mut rib, &a), vec![Msg::Eor(RTC)]);
    apply(&mut rib, 1, &Update::end_of_rib(RTC));
    let msgs = drain_msgs(&mut rib, &a);
    let mut want = macs(2, 5);
    want.extend(both());
    assert_eq!(announced(&msgs), sorted(want));
    assert_eq!(msgs.last(), Some(&Msg::Eor(EVPN)));
}

/// Without an RT-Constraint End-of-RIB the wait ends with the timer (`poll_timeout` /
/// `handle_timeout`): the routes of the memberships known then, then End-of-RIB.
#[test]
fn the_wait_ends_with_the_timer_without_end_of_rib() {
    let (mut rib, _) = origin_rib();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    let now = Instant::now();
    rib.peer_up_at(a.clone(), now);
    send_memberships(&mut rib, 1, &[2], vec![]);
    drain_msgs(&mut rib, &a);
    let due = rib.poll_timeout().unwrap();
    assert_eq!(due, now + RibConfig::DEFAULT_RTC_END_OF_RIB_WAIT);
    rib.handle_timeout(due - Duration::from_millis(1));
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);
    rib.handle_timeout(due);
    assert_eq!(rib.poll_timeout(), None);
    let msgs = drain_msgs(&mut rib, &a);
    let mut want = macs(2, 5);
    want.extend(both());
    assert_eq!(announced(&msgs), sorted(want));
    assert_eq!(msgs.last(), Some(&Msg::Eor(EVPN)));
    // A late End-of-RIB changes nothing.
    rib.end_of_rib(a.id, RTC);
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);
    // A zero wait disables the hold-back.
    let mut cfg = RibConfig::new(ASN, RID);
    cfg.rtc_end_of_rib_wait = Duration::ZERO;
    let mut rib = Rib::new(cfg);
    rib.peer_up(a.clone());
    assert_eq!(rib.poll_timeout(), None);
    let msgs = drain_msgs(&mut rib, &a);
    assert!(msgs.contains(&Msg::Eor(EVPN)));
}

/// RFC 4684 §4: a membership change sends exactly the difference: the routes of an added
/// route target not already sent for another one, withdrawals of the routes of a removed one
/// that no remaining one selects, and nothing for a route target still covered.
#[test]
fn membership_changes_send_exactly_the_difference() {
    let (mut rib, _) = origin_rib();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    rib.peer_up(a.clone());
    send_memberships(&mut rib, 1, &[1], vec![]);
    rib.end_of_rib(a.id, RTC);
    let msgs = drain_msgs(&mut rib, &a);
    let mut have = macs(1, 5);
    have.extend(both());
    assert_eq!(announced(&msgs), sorted(have));

    // + RT 2: its own five routes, not the two already sent for RT 1.
    send_memberships(&mut rib, 1, &[2], vec![]);
    let msgs = drain_msgs(&mut rib, &a);
    assert_eq!(announced(&msgs), sorted(macs(2, 5)));
    assert_eq!(withdrawn(&msgs), vec![]);
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 12);

    // The same membership again (another origin AS, same route target): nothing.
    apply(
        &mut rib,
        1,
        &announce(
            &[Route::RtConstraint(RtMembership::exact(65099, rt(2).0))],
            attrs(&[], &[], vec![]),
            nh(1),
        ),
    );
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);

    // - RT 1: its five routes go, the two carrying RT 2 as well stay.
    apply(&mut rib, 1, &withdraw(&[membership(1)]));
    let msgs = drain_msgs(&mut rib, &a);
    assert_eq!(withdrawn(&msgs), sorted(macs(1, 5)));
    assert_eq!(announced(&msgs), vec![]);
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 7);

    // - RT 2 (one of its two memberships): still covered, nothing.
    apply(&mut rib, 1, &withdraw(&[membership(2)]));
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);
    // - the last RT 2 membership: everything goes.
    apply(
        &mut rib,
        1,
        &withdraw(&[Route::RtConstraint(RtMembership::exact(65099, rt(2).0))]),
    );
    let msgs = drain_msgs(&mut rib, &a);
    let mut gone = macs(2, 5);
    gone.extend(both());
    assert_eq!(withdrawn(&msgs), sorted(gone));
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 0);
    // Route changes after that follow the (now empty) filter.
    apply(
        &mut rib,
        9,
        &announce(&[mac(2, 50)], attrs(&[], &[rt(2)], vec![]), vtep(9)),
    );
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);
}

/// The default membership (0:0:0/0) selects every route; dropping it leaves exactly the
/// routes of the other memberships.
#[test]
fn the_default_membership_means_everything() {
    let (mut rib, _) = origin_rib();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    rib.peer_up(a.clone());
    send_memberships(&mut rib, 1, &[3], vec![]);
    rib.end_of_rib(a.id, RTC);
    assert_eq!(announced(&drain_msgs(&mut rib, &a)), sorted(macs(3, 5)));
    let default = Route::RtConstraint(RtMembership::Default);
    apply(
        &mut rib,
        1,
        &announce(&[default], attrs(&[], &[], vec![]), nh(1)),
    );
    let msgs = drain_msgs(&mut rib, &a);
    let mut rest = macs(1, 5);
    rest.extend(macs(2, 5));
    rest.extend(both());
    assert_eq!(announced(&msgs), sorted(rest.clone()));
    // A new route of any route target (or none) reaches it.
    apply(
        &mut rib,
        9,
        &announce(&[mac(40, 1)], attrs(&[], &[], vec![]), vtep(9)),
    );
    assert_eq!(
        drain_msgs(&mut rib, &a),
        vec![Msg::Announce(EVPN, vec![mac(40, 1)])]
    );
    apply(&mut rib, 1, &withdraw(&[default]));
    let msgs = drain_msgs(&mut rib, &a);
    rest.push(mac(40, 1));
    assert_eq!(withdrawn(&msgs), sorted(rest));
    assert_eq!(rib.peer_counters(a.id).family(EVPN).advertised, 5);
}

/// A route target prefix membership (fewer than 64 bits) selects the routes whose route
/// target it covers, in the dump, in later changes and when it goes.
#[test]
fn prefix_memberships_select_what_they_cover() {
    let (mut rib, _) = origin_rib();
    // VNIs 0x10001 and 0x10002 share their top 16 value bits; VNI 1 does not.
    for vni in [0x1_0001, 0x1_0002] {
        apply(
            &mut rib,
            9,
            &announce(&macs(vni, 2), attrs(&[], &[rt(vni)], vec![]), vtep(9)),
        );
    }
    let prefix = Route::RtConstraint(RtMembership::partial(ASN, 48, rt(0x1_0000).0).unwrap());
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    rib.peer_up(a.clone());
    apply(
        &mut rib,
        1,
        &announce(&[prefix], attrs(&[], &[], vec![]), nh(1)),
    );
    rib.end_of_rib(a.id, RTC);
    let mut want = macs(0x1_0001, 2);
    want.extend(macs(0x1_0002, 2));
    assert_eq!(announced(&drain_msgs(&mut rib, &a)), sorted(want.clone()));
    apply(
        &mut rib,
        9,
        &announce(
            &[mac(0x1_0003, 0), mac(1, 60)],
            attrs(&[], &[rt(0x1_0003)], vec![]),
            vtep(9),
        ),
    );
    assert_eq!(
        announced(&drain_msgs(&mut rib, &a)),
        sorted(vec![mac(0x1_0003, 0), mac(1, 60)])
    );
    // Adding RT 1 exactly beside the prefix: its routes (mac(1, 60) carries the prefix's
    // RT 0x10003, not RT 1, and was sent already).
    send_memberships(&mut rib, 1, &[1], vec![]);
    let mut rt1 = macs(1, 5);
    rt1.extend(both());
    assert_eq!(announced(&drain_msgs(&mut rib, &a)), sorted(rt1));
    // Dropping the prefix withdraws what only it selected.
    apply(&mut rib, 1, &withdraw(&[prefix]));
    want.push(mac(0x1_0003, 0));
    want.push(mac(1, 60));
    assert_eq!(withdrawn(&drain_msgs(&mut rib, &a)), sorted(want));
}

/// Two peers released in one flush share the dump walk and the encodings, each receiving
/// exactly its own routes.
#[test]
fn peers_released_together_get_exactly_their_own_routes() {
    let (mut rib, _) = origin_rib();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    let b = peer(2, ASN, true, &[EVPN, RTC]);
    rib.peer_up(a.clone());
    rib.peer_up(b.clone());
    send_memberships(&mut rib, 1, &[1], vec![]);
    send_memberships(&mut rib, 2, &[1, 2], vec![]);
    rib.end_of_rib(a.id, RTC);
    rib.end_of_rib(b.id, RTC);
    let before = rib.stats().encodings;
    let ma = drain_msgs(&mut rib, &a);
    let mb = drain_msgs(&mut rib, &b);
    let mut wa = macs(1, 5);
    wa.extend(both());
    let mut wb = wa.clone();
    wb.extend(macs(2, 5));
    assert_eq!(announced(&ma), sorted(wa));
    assert_eq!(announced(&mb), sorted(wb));
    assert_eq!(ma.last(), Some(&Msg::Eor(EVPN)));
    assert_eq!(mb.last(), Some(&Msg::Eor(EVPN)));
    // EVPN: RT 1 and the two-RT routes once for both, RT 2 once for b; RT-Constraint: b's
    // memberships offered to a, a's to b (RFC 4684 §3.2).
    assert_eq!(rib.stats().encodings - before, 5);
}

/// `take_ready_peers` lists a peer once when its queue fills, and again only after it was
/// emptied and refilled; peers with nothing queued are not listed.
#[test]
fn ready_peers_are_listed_once_per_fill() {
    let mut rib = rib();
    let a = peer(1, ASN, true, &[EVPN]);
    let b = peer(2, ASN, true, &[EVPN]);
    let c = peer(3, ASN, true, &[EVPN]);
    rib.peer_up(a.clone());
    rib.peer_up(b.clone());
    let mut ready = rib.take_ready_peers();
    ready.sort();
    assert_eq!(ready, vec![a.id, b.id], "End-of-RIB queued for both");
    assert_eq!(rib.take_ready_peers(), vec![]);
    // a is drained, b is not: new output lists a again, not b (still listed since).
    drain_msgs(&mut rib, &a);
    apply(
        &mut rib,
        3,
        &announce(&[mac(1, 1)], attrs(&[], &[rt(1)], vec![]), vtep(3)),
    );
    rib.peer_up(c.clone());
    apply(
        &mut rib,
        3,
        &announce(&[mac(1, 1)], attrs(&[], &[rt(1)], vec![]), vtep(3)),
    );
    let mut ready = rib.take_ready_peers();
    ready.sort();
    assert_eq!(ready, vec![a.id, c.id]);
    // Emptied without being taken in between: not listed.
    drain_msgs(&mut rib, &b);
    assert_eq!(rib.take_ready_peers(), vec![]);
    // A peer that went down is not listed even if it was.
    drain_msgs(&mut rib, &a);
    drain_msgs(&mut rib, &c);
    apply(
        &mut rib,
        3,
        &announce(&[mac(1, 2)], attrs(&[], &[rt(1)], vec![]), vtep(3)),
    );
    rib.flush();
    rib.peer_down(a.id, None, Instant::now());
    assert_eq!(rib.take_ready_peers(), vec![b.id]);
}

/// `remove_peer` frees the slot of a peer that is down without paths: a later session of
/// another peer reuses it, and starts clean.
#[test]
fn removed_peers_free_their_slot_for_reuse() {
    let (mut rib, origin) = origin_rib();
    let now = Instant::now();
    let a = peer(1, ASN, true, &[EVPN, RTC]);
    rib.peer_up(a.clone());
    send_memberships(&mut rib, 1, &[1], vec![]);
    rib.end_of_rib(a.id, RTC);
    rib.flush();
    assert!(!rib.remove_peer(a.id), "a peer that is up is kept");
    rib.peer_down(a.id, Some(Duration::from_secs(60)), now);
    assert!(!rib.remove_peer(a.id), "a peer with stale paths is kept");
    rib.end_of_rib(a.id, RTC);
    assert!(rib.remove_peer(a.id));
    assert!(rib.remove_peer(a.id), "unknown: nothing to keep");
    // The slot is free once the removal of its paths is flushed.
    rib.flush();
    let slots = rib.sources.len();
    for n in 10..40 {
        let p = peer(n, ASN, true, &[EVPN, RTC]);
        rib.peer_up(p.clone());
        send_memberships(&mut rib, n, &[2], vec![]);
        rib.end_of_rib(p.id, RTC);
        let msgs = drain_msgs(&mut rib, &p);
        let mut want = macs(2, 5);
        want.extend(both());
        assert_eq!(announced(&msgs), sorted(want), "peer {n}");
        rib.peer_down(p.id, None, now);
        assert!(rib.remove_peer(p.id));
        rib.flush();
    }
    assert_eq!(rib.sources.len(), slots, "no growth with churn");
    assert!(rib.best(EVPN, &mac(1, 0)).is_some());
    assert_eq!(rib.peer_counters(a.id), PeerCounters::default());
    // The origin's routes are intact, nobody else's membership lingers.
    let o = &rib.sources[rib.src_of(origin.id).unwrap() as usize];
    assert!(o.memberships.is_empty());
    assert_rtc_dirty_count_exact(&rib);
}

/// A restarting speaker in deferral (RFC 4724 §4.1) still sends a new session its RT
/// membership table and End-of-RIB, which its peers wait for before sending their VPN routes
/// (RFC 4684 §6); everything else waits for the end of the deferral.
#[test]
fn deferral_still_sends_the_membership_table_and_its_end_of_rib() {
    let mut rib = rib();
    rib.originate(RTC, nlri(membership(7)), attrs(&[], &[], vec![]), nh(9));
    rib.originate(EVPN, nlri(mac(7, 1)), attrs(&[], &[rt(7)], vec![]), vtep(9));
    rib.set_deferral(true);
    let a = peer(1, ASN, false, &[EVPN, RTC]);
    rib.peer_up(a.clone());
    assert_eq!(
        drain_msgs(&mut rib, &a),
        vec![Msg::Announce(RTC, vec![membership(7)]), Msg::Eor(RTC)]
    );
    send_memberships(&mut rib, 1, &[7], vec![]);
    rib.end_of_rib(a.id, RTC);
    assert_eq!(drain_msgs(&mut rib, &a), vec![]);
    rib.set_deferral(false);
    assert_eq!(
        drain_msgs(&mut rib, &a),
        vec![Msg::Announce(EVPN, vec![mac(7, 1)]), Msg::Eor(EVPN)]
    );
}

/// A session going down walks the entries its peer added (kept per peer, stale ones checked
/// on use), or the tables for a peer that held more than the list keeps: either way every
/// path of the peer, and only those, is marked stale or removed.
#[test]
fn session_down_finds_every_path_of_the_peer() {
    let mut rib = rib();
    let now = Instant::now();
    let small = peer(1, ASN, true, &[EVPN]);
    let big = peer(2, ASN, true, &[EVPN]);
    let watcher = peer(3, ASN, true, &[EVPN]);
    let mut v = up_and_sync(&mut rib, &[&small, &big, &watcher])
        .pop()
        .unwrap();
    // The small peer churns one route, then holds three.
    for _ in 0..50 {
        apply(
            &mut rib,
            1,
            &announce(&[mac(1, 1)], attrs(&[], &[rt(1)], vec![]), vtep(1)),
        );
        apply(&mut rib, 1, &withdraw(&[mac(1, 1)]));
    }
    apply(
        &mut rib,
        1,
        &announce(&macs(1, 3), attrs(&[], &[rt(1)], vec![]), vtep(1)),
    );
    // The big one holds more routes than the list keeps.
    let n = HELD_LIST_MAX as u32 + 10;
    let many: Vec<Route> = (0..n).map(|i| mac(2, i)).collect();
    for chunk in many.chunks(4000) {
        apply(
            &mut rib,
            2,
            &announce(chunk, attrs(&[], &[rt(2)], vec![]), vtep(2)),
        );
    }
    assert!(rib.sources[1].held.is_none());
    recv(&mut rib, &watcher, &mut v);
    assert_eq!(v.routes.len(), 3 + n as usize);
    // Graceful down of the small one: its three paths stale, then gone with End-of-RIB.
    rib.peer_down(small.id, Some(Duration::from_secs(60)), now);
    let stale = rib.loc_rib(EVPN).filter(|(_, p)| p[0].stale).count();
    assert_eq!(stale, 3);
    rib.peer_up(small.clone());
    rib.end_of_rib(small.id, EVPN);
    rib.peer_down(big.id, None, now);
    recv(&mut rib, &watcher, &mut v);
    assert!(v.routes.is_empty(), "{} left", v.routes.len());
    assert_eq!(rib.route_count(EVPN), 0);
}

/// Random route, membership and session changes through a reflector with RT-Constraint
/// clients (and one without): after every step each client holds exactly the routes its
/// filter selects of the ones others sent (RFC 4684 §4), however the indexes got there.
#[test]
fn random_changes_keep_every_client_exact() {
    let mut rib = rib();
    let clients: Vec<PeerInfo> = (1..=6)
        .map(|n| peer(n, ASN, true, &[EVPN, RTC]))
        .chain([peer(7, ASN, true, &[EVPN])])
        .collect();
    let refs: Vec<&PeerInfo> = clients.iter().collect();
    let mut views = up_and_sync(&mut rib, &refs);
    // Model: each client's memberships (VNI, or 0 = default, or 99 = prefix of 0x1_00xx).
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); 7];
    let mut up = [true; 7];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let prefix = || Route::RtConstraint(RtMembership::partial(ASN, 48, rt(0x1_0000).0).unwrap());
    let vni_of = |k: u64| -> u32 {
        match k {
            0..=5 => k as u32 + 1,
            _ => 0x1_0000 + k as u32,
        }
    };
    let memb_route = |m: u32| match m {
        0 => Route::RtConstraint(RtMembership::Default),
        99 => prefix(),
        v => membership(v),
    };
    let mut filtered_checks = 0;
    for step in 0..400 {
        let p = rnd(7) as usize;
        let id = p as u32 + 1;
        match rnd(10) {
            0..=3 if up[p] => {
                // Announce a few routes with one or two route targets.
                let a = vni_of(rnd(8));
                let b = vni_of(rnd(8));
                let routes: Vec<Route> = (0..3).map(|_| mac(a, rnd(12) as u32)).collect();
                let ext = if rnd(2) == 0 {
                    vec![rt(a)]
                } else {
                    vec![rt(a), rt(b)]
                };
                apply(
                    &mut rib,
                    id,
                    &announce(&routes, attrs(&[], &ext, vec![]), vtep(id as u8)),
                );
            }
            4 if up[p] => {
                let routes: Vec<Route> = (0..4)
                    .map(|_| mac(vni_of(rnd(8)), rnd(12) as u32))
                    .collect();
                apply(&mut rib, id, &withdraw(&routes));
            }
            5 | 6 if up[p] && p < 6 => {
                let m = match rnd(10) {
                    0 => 0,
                    1 => 99,
                    k => vni_of(k % 8),
                };
                if members[p].contains(&m) {
                    apply(&mut rib, id, &withdraw(&[memb_route(m)]));
                    members[p].retain(|x| *x != m);
                } else {
                    apply(
                        &mut rib,
                        id,
                        &announce(&[memb_route(m)], attrs(&[], &[], vec![]), nh(id as u8)),
                    );
                    members[p].push(m);
                }
            }
            7 if up[p] => {
                rib.peer_down(PeerId(id), None, Instant::now());
                members[p].clear();
                up[p] = false;
            }
            7 | 8 if !up[p] => {
                rib.peer_up(clients[p].clone());
                views[p] = View::default();
                up[p] = true;
                if p < 6 && rnd(2) == 0 {
                    // Memberships before the End-of-RIB, as a real client sends them.
                    let m = vni_of(rnd(8));
                    apply(
                        &mut rib,
                        id,
                        &announce(&[membership(m)], attrs(&[], &[], vec![]), nh(id as u8)),
                    );
                    members[p].push(m);
                }
                if p < 6 {
                    rib.end_of_rib(PeerId(id), RTC);
                }
            }
            _ => {}
        }
        // Check everyone.
        let loc: Vec<(Route, Vec<Path>)> = rib.loc_rib(EVPN).collect();
        for (i, info) in clients.iter().enumerate() {
            if !up[i] {
                continue;
            }
            recv(&mut rib, info, &mut views[i]);
            let wants = |p: &Path| -> bool {
                if i == 6 || members[i].contains(&0) {
                    return true;
                }
                p.attrs.route_targets().any(|c| {
                    members[i].iter().any(|m| match m {
                        99 => RtMembership::partial(ASN, 48, rt(0x1_0000).0)
                            .unwrap()
                            .matches(&c.0),
                        v => rt(*v) == *c,
                    })
                })
            };
            let mut want: Vec<Route> = loc
                .iter()
                .filter(|(_, paths)| {
                    let b = &paths[0];
                    b.source != RouteSource::Peer(info.id) && wants(b)
                })
                .map(|(r, _)| *r)
                .collect();
            want.sort();
            let mut have: Vec<Route> = views[i]
                .routes
                .keys()
                .filter(|r| r.family() == EVPN)
                .copied()
                .collect();
            have.sort();
            assert_eq!(
                have,
                want,
                "step {step}: client {} ({:?})",
                i + 1,
                members[i]
            );
            if !have.is_empty() && !members[i].is_empty() && i < 6 {
                filtered_checks += 1;
            }
        }
    }
    assert!(
        filtered_checks > 200,
        "a test of something: {filtered_checks}"
    );
}

/// The update-group rule of issue 12 (RFC 4684 §4 with RFC 4271 §9.2 packing): a change is
/// encoded once per attribute set and receiver set, so every peer with the same memberships
/// is served by the same encoded bytes, and the number of encodings does not grow with the
/// number of peers.
#[test]
fn peers_with_the_same_memberships_share_one_encoding_of_every_change() {
    let (mut rib, _) = origin_rib();
    // 20 peers in VNIs 1 and 2, 6 peers in VNI 1 only.
    let members: Vec<(PeerInfo, &[u32])> = (20..46)
        .map(|n| {
            let set: &[u32] = if n < 40 { &[1, 2] } else { &[1] };
            (peer(n, ASN, true, &[EVPN, RTC]), set)
        })
        .collect();
    for (p, set) in &members {
        rib.peer_up(p.clone());
        send_memberships(&mut rib, p.id.0, set, vec![]);
        rib.end_of_rib(p.id, RTC);
    }
    for (p, _) in &members {
        drain_msgs(&mut rib, p);
    }
    let before = rib.stats().encodings;
    apply(
        &mut rib,
        9,
        &announce(&macs(1, 40), attrs(&[], &[rt(1)], vec![]), vtep(9)),
    );
    apply(
        &mut rib,
        9,
        &announce(&macs(2, 40), attrs(&[], &[rt(2)], vec![]), vtep(9)),
    );
    rib.flush();
    // One encoding for VNI 1's routes (26 receivers), one for VNI 2's (20 receivers).
    assert_eq!(rib.stats().encodings - before, 2);
    let mut first: HashMap<Vec<u32>, Vec<Arc<[u8]>>> = HashMap::new();
    for (p, set) in &members {
        let mut chunks = Vec::new();
        while let Some(c) = rib.poll_transmit_shared(p.id) {
            chunks.push(c);
        }
        assert!(!chunks.is_empty(), "peer {} got nothing", p.id.0);
        match first.get(*set) {
            None => {
                first.insert(set.to_vec(), chunks);
            }
            Some(seen) => {
                assert_eq!(seen.len(), chunks.len());
                for (a, b) in seen.iter().zip(&chunks) {
                    assert!(Arc::ptr_eq(a, b), "peer {} has its own copy", p.id.0);
                }
            }
        }
    }
    assert_eq!(first.len(), 2);
}
