//! RT-Constraint through a real evpnd route reflector (issue 12, RFC 4684 §4 and §6).
//!
//! * `rtc_holdback_and_exact_delta_with_raw_speakers`: evpnd as a route reflector with two
//!   raw-speaker clients on loopback: one originates EVPN routes in three VNIs, the other
//!   negotiates RT-Constraint. The second gets no EVPN route, and no EVPN End-of-RIB, while
//!   its RT-Constraint End-of-RIB is outstanding; then exactly the routes of its route
//!   targets, the EVPN End-of-RIB after them; then, when it adds one route target and drops
//!   another, exactly the difference: nothing of the route target it keeps is sent again.
//! * `rtc_with_gobgp_as_client`: GoBGP 3.10 as an RT-Constraint client of an evpnd reflector,
//!   both in one namespace on its loopback: GoBGP announces memberships for the import route
//!   targets of its VRF and receives only the matching EVPN routes; a new VRF import route
//!   target brings exactly its routes, removing the VRF takes them away. Needs root, `ip`,
//!   `gobgpd` and `gobgp` (loud skip without, a failure under CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::netns_daemon::NsDaemon;
use common::Daemon;
use evpnd_lab::{require_root_and_tools, Gobgp, Netns, RawPeer};
use evpnd_wire::{
    AsPath, Capability, Esi, EvpnRoute, ExtendedCommunity, Family, Label, MacAddress, MacIpRoute,
    Message, MpReach, MpUnreach, NextHop, Nlri, Origin, PathAttribute, Route, RouteDistinguisher,
    RouteTarget, RtMembership, Update,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
const ASN: u32 = 65000;
const EVPN: Family = Family::L2VPN_EVPN;
const RTC: Family = Family::RT_CONSTRAINT;

fn rt(vni: u32) -> ExtendedCommunity {
    ExtendedCommunity::route_target(RouteTarget::As2 {
        asn: 65000,
        value: vni,
    })
}

fn membership(vni: u32) -> Route {
    Route::RtConstraint(RtMembership::exact(ASN, rt(vni).0))
}

/// MAC route `n` of VNI `vni`.
fn mac(vni: u32, n: u8) -> Route {
    Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: RouteDistinguisher::as2(65001, vni),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: MacAddress([0x02, 0, 0, (vni >> 8) as u8, vni as u8, n]),
        ip: None,
        label1: Label::from_vni(vni).unwrap(),
        label2: None,
    }))
}

fn macs(vni: u32) -> Vec<Route> {
    (1..=3).map(|n| mac(vni, n)).collect()
}

fn announce(routes: Vec<Route>, ext: Vec<ExtendedCommunity>, nh: Ipv4Addr) -> Message {
    let family = routes[0].family();
    let mut attributes = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence(vec![])),
        PathAttribute::LocalPref(100),
    ];
    if !ext.is_empty() {
        attributes.push(PathAttribute::ExtendedCommunities(ext));
    }
    Message::Update(Update {
        mp_reach: Some(MpReach::new(
            family,
            NextHop::Ipv4(nh),
            routes.into_iter().map(Nlri::new).collect(),
        )),
        attributes,
        ..Update::default()
    })
}

fn withdraw(routes: Vec<Route>) -> Message {
    let family = routes[0].family();
    Message::Update(Update {
        mp_unreach: Some(MpUnreach::new(
            family,
            routes.into_iter().map(Nlri::new).collect(),
        )),
        ..Update::default()
    })
}

/// The EVPN routes `p` holds.
fn evpn_held(p: &RawPeer) -> BTreeSet<Route> {
    p.routes
        .keys()
        .filter(|r| r.family() == EVPN)
        .copied()
        .collect()
}

fn set(v: impl IntoIterator<Item = Route>) -> BTreeSet<Route> {
    v.into_iter().collect()
}

#[test]
fn rtc_holdback_and_exact_delta_with_raw_speakers() {
    // The reflector connects to both clients, each a listening raw speaker.
    let mut origin = RawPeer::listen(
        "origin",
        Ipv4Addr::new(127, 0, 0, 72),
        ASN,
        Ipv4Addr::new(198, 19, 0, 72),
    )
    .unwrap();
    let mut client = RawPeer::listen(
        "rtc-client",
        Ipv4Addr::new(127, 0, 0, 73),
        ASN,
        Ipv4Addr::new(198, 19, 0, 73),
    )
    .unwrap();
    client
        .extra_capabilities
        .push(Capability::Multiprotocol(RTC));
    let config = format!(
        "asn = {ASN}\nrouter-id = \"198.19.0.71\"\n[bgp]\nlisten = \"none\"\nconnect-retry = 0.2\n\
         [[neighbor]]\naddress = \"127.0.0.72\"\nremote-asn = {ASN}\nport = {}\nlocal-address = \"127.0.0.71\"\n\
         route-reflector-client = true\nfamilies = [\"l2vpn-evpn\"]\n\
         [[neighbor]]\naddress = \"127.0.0.73\"\nremote-asn = {ASN}\nport = {}\nlocal-address = \"127.0.0.71\"\n\
         route-reflector-client = true\nfamilies = [\"l2vpn-evpn\", \"rt-constraint\"]\n",
        origin.port(),
        client.port()
    );
    let d = Daemon::start("rtc-rr", &config);

    // The origin's routes are in the reflector before the client comes.
    origin.accept_session(T).unwrap();
    let nh = Ipv4Addr::new(198, 19, 0, 72);
    for vni in [100, 200, 300] {
        origin
            .send(&announce(macs(vni), vec![rt(vni)], nh))
            .unwrap();
    }
    origin
        .send(&Message::Update(Update::end_of_rib(EVPN)))
        .unwrap();
    common::wait_until(T, || d.evpn_routes().len() == 9)
        .unwrap_or_else(|_| panic!("routes not in the reflector\n{}", d.log_text()));

    // The client: memberships of VNIs 100 and 200, no RT-Constraint End-of-RIB yet.
    client.accept_session(T).unwrap();
    let cnh = Ipv4Addr::new(198, 19, 0, 73);
    client
        .send(&announce(
            vec![membership(100), membership(200)],
            vec![],
            cnh,
        ))
        .unwrap();
    client
        .wait(T, |p| p.end_of_rib.contains(&RTC))
        .expect("the reflector's RT-Constraint End-of-RIB");
    // RFC 4684 §6: the EVPN routes wait for our RT-Constraint End-of-RIB.
    std::thread::sleep(Duration::from_secs(2));
    client.drain();
    assert!(
        evpn_held(&client).is_empty() && !client.end_of_rib.contains(&EVPN),
        "EVPN sent before the RT-Constraint End-of-RIB: {:?} {:?}",
        evpn_held(&client),
        client.end_of_rib
    );

    client
        .send(&Message::Update(Update::end_of_rib(RTC)))
        .unwrap();
    client
        .wait(T, |p| p.end_of_rib.contains(&EVPN))
        .unwrap_or_else(|e| panic!("{e}: no EVPN End-of-RIB\n{}", d.log_text()));
    let mut want = macs(100);
    want.extend(macs(200));
    assert_eq!(evpn_held(&client), set(want.clone()));
    // Every EVPN route came before the EVPN End-of-RIB: the log of UPDATEs in order.
    let eor_at = client
        .updates
        .iter()
        .position(|(u, _)| u.as_end_of_rib() == Some(EVPN))
        .unwrap();
    let last_route_at = client
        .updates
        .iter()
        .rposition(|(u, _)| u.announced().any(|(f, _)| f == EVPN))
        .unwrap();
    assert!(last_route_at < eor_at, "a route after End-of-RIB");
    assert!(client.withdrawn_log.is_empty());

    // Membership change: + VNI 300, - VNI 100. Exactly the difference comes.
    let announced_before = client.announced_log.len();
    client
        .send(&announce(vec![membership(300)], vec![], cnh))
        .unwrap();
    client.send(&withdraw(vec![membership(100)])).unwrap();
    let mut want = macs(200);
    want.extend(macs(300));
    let want = set(want);
    client
        .wait(T, |p| evpn_held(p) == want)
        .unwrap_or_else(|e| panic!("{e}: holds {:?}", evpn_held(&client)));
    // Settle, then check nothing else came.
    std::thread::sleep(Duration::from_millis(500));
    client.drain();
    assert_eq!(evpn_held(&client), want);
    let new: BTreeSet<Route> = client.announced_log[announced_before..]
        .iter()
        .filter(|r| r.family() == EVPN)
        .copied()
        .collect();
    assert_eq!(new, set(macs(300)), "only VNI 300's routes are announced");
    assert_eq!(
        client.announced_log[announced_before..]
            .iter()
            .filter(|r| r.family() == EVPN)
            .count(),
        3,
        "each once"
    );
    assert_eq!(set(client.withdrawn_log.clone()), set(macs(100)));
    assert_eq!(client.withdrawn_log.len(), 3);
    assert!(client.undecodable.is_empty());
}

// ---------------------------------------------------------------------------------------------
// GoBGP

const RR: &str = "127.0.0.81";
const GOBGP: &str = "127.0.0.82";

/// gobgpd.toml: an internal RR client of the reflector with EVPN and RT-Constraint, and
/// graceful restart (helper only): GoBGP 3.10 sends End-of-RIB markers only when graceful
/// restart is negotiated, and the RT-Constraint one is what ends the reflector's hold-back
/// (RFC 4684 §6) before its timer.
fn gobgp_conf(port: u16) -> String {
    let mut s = format!(
        "[global.config]\n  as = {ASN}\n  router-id = \"198.19.0.82\"\n  port = -1\n  local-address-list = [\"{GOBGP}\"]\n\
         [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{RR}\"\n    peer-as = {ASN}\n\
         [neighbors.transport.config]\n    remote-port = {port}\n    local-address = \"{GOBGP}\"\n\
         [neighbors.timers.config]\n    connect-retry = 1\n    idle-hold-time-after-reset = 1\n\
         [neighbors.graceful-restart.config]\n    enabled = true\n    helper-only = true\n    restart-time = 30\n"
    );
    for f in ["l2vpn-evpn", "rtc"] {
        s.push_str(&format!(
            "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{f}\"\n\
             [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n"
        ));
    }
    s
}

/// The route targets ("65000:N") of the EVPN paths GoBGP received from the reflector.
fn gobgp_received(g: &Gobgp) -> Vec<String> {
    let v = g
        .cli_json(&["neighbor", RR, "adj-in", "-a", "evpn"])
        .unwrap_or(Value::Null);
    let mut out = Vec::new();
    if let Value::Object(m) = &v {
        for paths in m.values() {
            let Some(p) = paths.as_array().and_then(|a| a.first()) else {
                continue;
            };
            let rts: Vec<String> = p["attrs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["value"].as_array())
                .flatten()
                // Route targets: type 0 (2-octet AS), subtype 2, value "AS:N".
                .filter(|c| c["type"].as_u64() == Some(0) && c["subtype"].as_u64() == Some(2))
                .filter_map(|c| c["value"].as_str().map(str::to_string))
                .collect();
            out.push(rts.join(","));
        }
    }
    out.sort();
    out
}

/// `n` routes of each VNI: what GoBGP should hold for `vnis`.
fn expected_rts(vnis: &[u32], n: usize) -> Vec<String> {
    let mut v: Vec<String> = vnis
        .iter()
        .flat_map(|vni| std::iter::repeat_n(format!("65000:{vni}"), n))
        .collect();
    v.sort();
    v
}

#[test]
fn rtc_with_gobgp_as_client() {
    if !require_root_and_tools(&["ip", "gobgpd", "gobgp"]) {
        return;
    }
    let ns = Netns::new().unwrap();
    // An origin raw speaker can't live in the namespace; the reflector originates the routes
    // itself (static routes), three per VNI.
    let port = 1790;
    let gport = 17900;
    let mut config = format!(
        "asn = {ASN}\nrouter-id = \"198.19.0.81\"\n[bgp]\nlisten = \"{RR}:{port}\"\nconnect-retry = 0.2\n\
         [[neighbor]]\naddress = \"{GOBGP}\"\nremote-asn = {ASN}\nport = {gport}\nlocal-address = \"{RR}\"\n\
         passive = true\nroute-reflector-client = true\nfamilies = [\"l2vpn-evpn\", \"rt-constraint\"]\n\
         graceful-restart = true\n"
    );
    for vni in [100u32, 200, 300] {
        for n in 1..=3u32 {
            config.push_str(&format!(
                "[[static-route]]\ntype = \"mac-ip\"\nrd = \"198.19.0.81:{vni}\"\nroute-targets = [\"65000:{vni}\"]\n\
                 vni = {vni}\nmac = \"02:00:00:00:{:02x}:{n:02x}\"\nnext-hop = \"198.19.0.81\"\n",
                vni / 100
            ));
        }
    }
    let d = NsDaemon::start(&ns, "rtc-rr-gobgp", &config);
    let g = Gobgp::start(&ns, &gobgp_conf(port), T).unwrap();
    // GoBGP originates RT memberships for the import route targets of its VRFs.
    g.cli(&[
        "vrf",
        "add",
        "v100",
        "rd",
        "198.19.0.82:100",
        "rt",
        "both",
        "65000:100",
    ])
    .unwrap();
    g.cli(&[
        "vrf",
        "add",
        "v200",
        "rd",
        "198.19.0.82:200",
        "rt",
        "both",
        "65000:200",
    ])
    .unwrap();
    g.wait_established(RR, T).unwrap_or_else(|e| {
        panic!("{e}\nevpnd:\n{}", d.log_tail(30));
    });
    let up = Instant::now();
    // Well before the reflector's 30 s wait: the RT-Constraint End-of-RIB released the table.
    let deadline = up + Duration::from_secs(15);
    let want = expected_rts(&[100, 200], 3);
    while gobgp_received(&g) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        gobgp_received(&g),
        want,
        "GoBGP holds exactly VNIs 100 and 200 within {:?} of Established\n{}",
        up.elapsed(),
        d.log_tail(30)
    );

    // A third VRF: its routes come; removing the first: its routes go.
    g.cli(&[
        "vrf",
        "add",
        "v300",
        "rd",
        "198.19.0.82:300",
        "rt",
        "both",
        "65000:300",
    ])
    .unwrap();
    g.cli(&["vrf", "del", "v100"]).unwrap();
    let want = expected_rts(&[200, 300], 3);
    let deadline = Instant::now() + T;
    while gobgp_received(&g) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(gobgp_received(&g), want, "exact delta\n{}", d.log_tail(30));
    drop(g);
    drop(d);
    ns.delete().unwrap();
}
