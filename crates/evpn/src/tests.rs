//! Deterministic tests of the engine. Expected bytes come from the RFC layouts (RFC 4364 §4.2
//! RDs, RFC 4360 §4 / RFC 5668 §2 route targets, RFC 9012 §4.1 encapsulation, RFC 7432 §7.7
//! MAC mobility, RFC 6514 §5 PMSI tunnel), not from our own output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::*;
use evpnd_bgp::rib::{BestChange, NlriExtras, Path, PathAttrs, Rib, RibConfig, RouteSource};
use evpnd_bgp::PeerId;
use evpnd_wire::{
    AttrSet, CodecContext, Esi, EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family,
    InclusiveMulticastRoute, Label, MacAddress, MacIpRoute, NextHop, PathAttribute, PmsiTunnel,
    PmsiTunnelId, Route, RouteDistinguisher, RouteTarget, Vni,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

const ASN: u32 = 65001;

/// The VNI most tests use.
const VNI: Vni = vni(100);

/// `n` as a VNI; tests only name valid ones.
const fn vni(n: u32) -> Vni {
    match Vni::new(n) {
        Ok(v) => v,
        Err(_) => panic!("not a valid VNI"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(last: u8) -> MacAddress {
    MacAddress([0x02, 0, 0, 0, 0, last])
}

fn engine(rid: &str, vtep: &str) -> Engine {
    Engine::new(EngineConfig::new(ASN, rid.parse().unwrap(), ip(vtep)))
}

fn attach(
    e: &mut Engine,
    vni: Vni,
    m: MacAddress,
    addr: Option<IpAddr>,
    sticky: bool,
    now: Instant,
) -> Result<(), EngineError> {
    let mut a = Attachment::new(vni, m, addr);
    a.sticky = sticky;
    e.local_attach(&a, now)
}

fn detach(e: &mut Engine, vni: Vni, m: MacAddress, addr: Option<IpAddr>) {
    e.local_detach(vni, m, addr, Instant::now()).unwrap();
}

fn drain_routes(e: &mut Engine) -> Vec<RouteChange> {
    std::iter::from_fn(|| e.poll_route()).collect()
}

/// The entry intents (FDB, flood, neighbours), without the EVI's own `Vni`/`RemoveVni`
/// (tested on their own in `evi_lifecycle_and_ports_reach_the_data_plane_in_order`).
fn drain_intents(e: &mut Engine) -> Vec<DataplaneIntent> {
    std::iter::from_fn(|| e.poll_intent())
        .filter(|i| {
            !matches!(
                i,
                DataplaneIntent::Vni { .. } | DataplaneIntent::RemoveVni { .. }
            )
        })
        .collect()
}

#[test]
fn evi_lifecycle_and_ports_reach_the_data_plane_in_order() {
    let t0 = Instant::now();
    let mut e = engine("198.19.0.1", "198.19.0.1");
    e.add_evi(EviConfig::new(VNI));
    e.add_evi(EviConfig::new(VNI));
    let all = |e: &mut Engine| std::iter::from_fn(|| e.poll_intent()).collect::<Vec<_>>();
    assert_eq!(
        all(&mut e),
        vec![DataplaneIntent::Vni {
            vni: VNI,
            vrf: None
        }],
        "once"
    );
    let port = PortName::new("veth-t1").unwrap();
    let mut a = Attachment::new(VNI, mac(1), None);
    a.port = Some(port);
    e.local_attach(&a, t0).unwrap();
    let mut b = Attachment::new(VNI, mac(2), Some(ip("192.0.2.2")));
    b.port = Some(port);
    e.local_attach(&b, t0).unwrap();
    let local_b = DataplaneIntent::Neighbor {
        vni: VNI,
        ip: ip("192.0.2.2"),
        mac: mac(2),
        router: false,
        local: true,
    };
    assert_eq!(
        all(&mut e),
        vec![DataplaneIntent::Port { vni: VNI, port }, local_b],
        "a port shared by two MACs is plugged in once"
    );
    detach(&mut e, VNI, mac(1), None);
    assert!(all(&mut e).is_empty(), "mac 2 still uses the port");
    assert_eq!(e.ports(VNI).collect::<Vec<_>>(), vec![port]);
    e.remove_evi(VNI);
    assert_eq!(
        all(&mut e),
        vec![
            DataplaneIntent::RemoveNeighbor {
                vni: VNI,
                ip: ip("192.0.2.2")
            },
            DataplaneIntent::RemovePort { vni: VNI, port },
            DataplaneIntent::RemoveVni { vni: VNI },
        ],
        "entries, then ports, then the VNI"
    );
    assert!(PortName::new("a-name-of-16-chr").is_err());
    assert!(PortName::new("eth/0").is_err());
    assert!(PortName::new("").is_err());
    assert_eq!(PortName::new("vx100").unwrap().as_str(), "vx100");
}

fn ext_comms(attrs: &[PathAttribute]) -> Vec<ExtendedCommunity> {
    attrs
        .iter()
        .find_map(|a| match a {
            PathAttribute::ExtendedCommunities(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// RFC 4360 §4: type 0x00 sub-type 0x02, 2-octet AS, 4-octet value.
fn rt_as2_bytes(asn: u16, value: u32) -> [u8; 8] {
    let a = asn.to_be_bytes();
    let v = value.to_be_bytes();
    [0x00, 0x02, a[0], a[1], v[0], v[1], v[2], v[3]]
}

/// RFC 9012 §4.1 encapsulation community, tunnel type 8 = VXLAN (RFC 8365 §5.1.3).
const ENCAP_VXLAN: [u8; 8] = [0x03, 0x0c, 0, 0, 0, 0, 0, 8];

fn rt(asn: u16, value: u32) -> ExtendedCommunity {
    ExtendedCommunity(rt_as2_bytes(asn, value))
}

fn mobility(sequence: u32, sticky: bool) -> ExtendedCommunity {
    ExtendedCommunity::new(ExtCommunityKind::MacMobility { sequence, sticky })
}

/// A remote type-2 best path as the speaker would report it.
fn remote_mac_ip(
    rd: RouteDistinguisher,
    vni: Vni,
    m: MacAddress,
    addr: Option<IpAddr>,
    vtep: IpAddr,
    comms: Vec<ExtendedCommunity>,
) -> BestChange {
    remote_mac_ip_labelled(rd, vni.label(), m, addr, vtep, comms)
}

/// A remote type-2 best path with any label field, valid VNI or not.
fn remote_mac_ip_labelled(
    rd: RouteDistinguisher,
    label: Label,
    m: MacAddress,
    addr: Option<IpAddr>,
    vtep: IpAddr,
    comms: Vec<ExtendedCommunity>,
) -> BestChange {
    let route = Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd,
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: m,
        ip: addr,
        label1: label,
        label2: None,
    }));
    let mut attrs = PathAttrs::from_attributes(
        &[PathAttribute::ExtendedCommunities(comms)],
        AttrSet::default(),
        NextHop::from_ip(vtep),
        true,
    );
    attrs.nlri_extras = NlriExtras {
        label1: label,
        ..NlriExtras::default()
    };
    best_change(route, attrs)
}

fn remote_imet(
    rd: RouteDistinguisher,
    vni: Vni,
    vtep: IpAddr,
    comms: Vec<ExtendedCommunity>,
) -> BestChange {
    remote_imet_labelled(rd, vni.label(), vtep, comms)
}

/// A remote type-3 best path whose PMSI label is any label field, valid VNI or not.
fn remote_imet_labelled(
    rd: RouteDistinguisher,
    label: Label,
    vtep: IpAddr,
    comms: Vec<ExtendedCommunity>,
) -> BestChange {
    let route = Route::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
        rd,
        ethernet_tag: 0,
        originator: vtep,
    }));
    let attrs = PathAttrs::from_attributes(
        &[
            PathAttribute::ExtendedCommunities(comms),
            PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(vtep, label)),
        ],
        AttrSet::default(),
        NextHop::from_ip(vtep),
        true,
    );
    best_change(route, attrs)
}

fn best_change(route: Route, attrs: PathAttrs) -> BestChange {
    BestChange {
        family: Family::L2VPN_EVPN,
        route,
        best: Some(Path {
            route,
            source: RouteSource::Peer(PeerId(1)),
            path_id: None,
            attrs: Arc::new(attrs),
            stale: false,
        }),
    }
}

fn gone(mut c: BestChange) -> BestChange {
    c.best = None;
    c
}

fn remote_rd() -> RouteDistinguisher {
    RouteDistinguisher::ipv4(Ipv4Addr::new(198, 19, 0, 2), VNI.get() as u16)
}

// ----- derivation -----

#[test]
fn auto_rd_is_type1_router_id_and_evi() {
    // RFC 4364 §4.2 type 1: 0x0001, IPv4 administrator, 2-octet number.
    let rd = auto_rd(Ipv4Addr::new(198, 19, 0, 1), vni(100));
    assert_eq!(rd.0, [0, 1, 198, 19, 0, 1, 0, 100]);
    // The EVI number is the VNI truncated to 16 bits.
    let rd = auto_rd(Ipv4Addr::new(198, 19, 0, 1), vni(0x01_0064));
    assert_eq!(rd.0, [0, 1, 198, 19, 0, 1, 0, 100]);
}

#[test]
fn auto_rt_two_octet_asn_carries_the_whole_vni() {
    let r = auto_route_target(65001, vni(0x12_3456));
    assert_eq!(
        ExtendedCommunity::route_target(r).0,
        rt_as2_bytes(65001, 0x12_3456)
    );
}

#[test]
fn rfc8365_route_target_encodes_type_domain_and_vni() {
    // RFC 8365 §5.1.2.1: 2-octet global administrator, then A(1 bit)=0, Type(3)=1 (VXLAN),
    // D-ID(4), Service ID(24) = VNI.
    let r = rfc8365_route_target(65001, 2, vni(0x12_3456));
    assert_eq!(
        ExtendedCommunity::route_target(r).0,
        [0x00, 0x02, 0xfd, 0xe9, 0x12, 0x12, 0x34, 0x56]
    );
    // A 4-octet AS contributes its low 16 bits.
    assert!(matches!(
        rfc8365_route_target(0x0001_0002, 0, vni(5)),
        RouteTarget::As2 {
            asn: 2,
            value: 0x1000_0005
        }
    ));
    // The engine option derives it, and `*:VNI` imports it whatever the AS and domain id.
    let mut cfg = EngineConfig::new(ASN, Ipv4Addr::new(198, 19, 0, 1), ip("198.18.0.1"));
    cfg.rt_derivation = RtDerivation::Rfc8365 { domain_id: 0 };
    let mut e = Engine::new(cfg);
    e.add_evi(EviConfig::new(VNI));
    assert_eq!(
        e.evi(VNI).unwrap().export,
        vec![RouteTarget::As2 {
            asn: 65001,
            value: 0x1000_0000 | VNI.get()
        }]
    );
    assert!(ImportTarget::AnyAs(VNI).matches(&rfc8365_route_target(64999, 7, VNI)));
    assert!(!ImportTarget::AnyAs(VNI).matches(&rfc8365_route_target(64999, 7, vni(VNI.get() + 1))));
}

#[test]
fn auto_rt_four_octet_asn_truncates_the_vni() {
    // RFC 5668 §2: type 0x02 sub-type 0x02, 4-octet AS, 2-octet value.
    let r = auto_route_target(4_200_000_001, vni(0x01_0064));
    assert_eq!(
        r,
        RouteTarget::As4 {
            asn: 4_200_000_001,
            value: 100
        }
    );
    let a = 4_200_000_001u32.to_be_bytes();
    assert_eq!(
        ExtendedCommunity::route_target(r).0,
        [0x02, 0x02, a[0], a[1], a[2], a[3], 0, 100]
    );
    // 65535 is still a 2-octet AS, 65536 is not.
    assert!(matches!(
        auto_route_target(65535, vni(1)),
        RouteTarget::As2 { asn: 65535, .. }
    ));
    assert!(matches!(
        auto_route_target(65536, vni(1)),
        RouteTarget::As4 { asn: 65536, .. }
    ));
}

#[test]
fn wildcard_import_matches_any_as_with_the_vni() {
    let w = ImportTarget::AnyAs(vni(100));
    assert!(w.matches(&RouteTarget::As2 {
        asn: 65001,
        value: 100
    }));
    assert!(w.matches(&RouteTarget::As2 {
        asn: 64999,
        value: 100
    }));
    assert!(w.matches(&RouteTarget::As4 {
        asn: 4_200_000_001,
        value: 100
    }));
    assert!(!w.matches(&RouteTarget::As2 {
        asn: 65001,
        value: 101
    }));
    assert!(!w.matches(&RouteTarget::Ipv4 {
        addr: Ipv4Addr::new(198, 19, 0, 1),
        value: 100
    }));
}

#[test]
fn explicit_rd_and_targets_override_derivation() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    let rd = RouteDistinguisher::as2(65001, 7);
    let export = RouteTarget::As2 {
        asn: 65000,
        value: 7,
    };
    e.add_evi(EviConfig {
        vni: VNI,
        rd: Some(rd),
        import: vec![],
        export: vec![export],
        ..EviConfig::new(VNI)
    });
    let evi = e.evi(VNI).unwrap();
    assert_eq!(evi.rd, rd);
    assert_eq!(evi.export, vec![export]);
    // Import stays auto-derived when not given.
    assert_eq!(
        evi.import,
        vec![ImportTarget::Exact(RouteTarget::As2 {
            asn: 65001,
            value: VNI.get()
        })]
    );
}

// ----- origination -----

#[test]
fn add_evi_originates_type3_with_pmsi_ingress_replication() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(vni(0x01_2345)));
    let routes = drain_routes(&mut e);
    assert_eq!(routes.len(), 1);
    let RouteChange::Originate {
        nlri,
        attributes,
        next_hop,
    } = &routes[0]
    else {
        panic!("expected an origination: {routes:?}");
    };
    assert_eq!(*next_hop, NextHop::Ipv4(Ipv4Addr::new(198, 18, 0, 1)));
    let Route::Evpn(EvpnRoute::InclusiveMulticast(r)) = nlri.route else {
        panic!("not type 3: {nlri:?}");
    };
    assert_eq!(r.rd.0, [0, 1, 198, 19, 0, 1, 0x23, 0x45]);
    assert_eq!(r.ethernet_tag, 0);
    assert_eq!(r.originator, ip("198.18.0.1"));
    let comms = ext_comms(attributes);
    assert!(comms.contains(&rt(65001, 0x01_2345)));
    assert!(comms.contains(&ExtendedCommunity(ENCAP_VXLAN)));
    let pmsi = attributes
        .iter()
        .find_map(|a| match a {
            PathAttribute::PmsiTunnel(p) => Some(p.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        pmsi.tunnel,
        PmsiTunnelId::IngressReplication(ip("198.18.0.1"))
    );
    assert_eq!(pmsi.label.vni(), 0x01_2345);
    // RFC 6514 §5 layout: flags, tunnel type 6 (ingress replication), 3-octet label holding
    // the whole VNI (RFC 8365 §5.1.3), then the endpoint.
    let mut b = Vec::new();
    PathAttribute::PmsiTunnel(pmsi).encode(&CodecContext::default(), false, &mut b);
    assert_eq!(
        b,
        [0xc0, 22, 9, 0, 6, 0x01, 0x23, 0x45, 198, 18, 0, 1],
        "PMSI bytes"
    );
}

#[test]
fn local_attach_originates_mac_and_mac_ip_routes() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    drain_routes(&mut e);
    let now = Instant::now();
    attach(&mut e, VNI, mac(1), Some(ip("192.0.2.10")), false, now).unwrap();
    let routes = drain_routes(&mut e);
    assert_eq!(routes.len(), 2, "{routes:?}");
    let mut seen_ips = Vec::new();
    for r in &routes {
        let RouteChange::Originate {
            nlri,
            attributes,
            next_hop,
        } = r
        else {
            panic!("expected originations: {routes:?}");
        };
        assert_eq!(next_hop.ip(), Some(ip("198.18.0.1")));
        let Route::Evpn(EvpnRoute::MacIp(m)) = nlri.route else {
            panic!("not type 2");
        };
        assert_eq!(m.mac, mac(1));
        assert_eq!(m.label1, VNI.label());
        assert_eq!(m.label2, None);
        assert_eq!(m.esi, Esi::ZERO);
        assert_eq!(m.rd, auto_rd(Ipv4Addr::new(198, 19, 0, 1), VNI));
        // RFC 7432 §7.2: the label field ends the NLRI; VXLAN puts the VNI in all 24 bits.
        let mut b = Vec::new();
        nlri.encode(&mut b);
        assert_eq!(&b[b.len() - 3..], &[0, 0, 100]);
        let comms = ext_comms(attributes);
        assert_eq!(
            comms,
            vec![rt(65001, VNI.get()), ExtendedCommunity(ENCAP_VXLAN)]
        );
        seen_ips.push(m.ip);
    }
    seen_ips.sort();
    assert_eq!(seen_ips, vec![None, Some(ip("192.0.2.10"))]);
    // Attaching the same thing again emits nothing.
    attach(&mut e, VNI, mac(1), Some(ip("192.0.2.10")), false, now).unwrap();
    assert!(drain_routes(&mut e).is_empty());
    let t = e.mac_table(VNI);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].origin, MacOrigin::Local);
    assert_eq!(t[0].ips, vec![ip("192.0.2.10")]);
}

#[test]
fn sticky_mac_carries_mobility_community_with_sticky_bit() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    drain_routes(&mut e);
    attach(&mut e, VNI, mac(2), None, true, Instant::now()).unwrap();
    let routes = drain_routes(&mut e);
    assert_eq!(routes.len(), 1);
    let RouteChange::Originate { attributes, .. } = &routes[0] else {
        panic!()
    };
    // RFC 7432 §7.7: type 0x06 sub-type 0x00, flags (sticky = 0x01), reserved, sequence 0.
    assert!(ext_comms(attributes).contains(&ExtendedCommunity([6, 0, 1, 0, 0, 0, 0, 0])));
    // Turning sticky off re-originates without the community.
    attach(&mut e, VNI, mac(2), None, false, Instant::now()).unwrap();
    let routes = drain_routes(&mut e);
    let RouteChange::Originate { attributes, .. } = &routes[0] else {
        panic!()
    };
    assert!(!ext_comms(attributes).iter().any(|c| c.0[..2] == [6, 0]));
}

#[test]
fn attach_to_unknown_vni_is_refused() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    assert_eq!(
        attach(&mut e, vni(5), mac(1), None, false, Instant::now()),
        Err(EngineError::UnknownVni(vni(5)))
    );
    assert!(drain_routes(&mut e).is_empty());
}

fn withdrawn(routes: &[RouteChange]) -> Vec<Route> {
    routes
        .iter()
        .map(|r| match r {
            RouteChange::Withdraw { nlri } => nlri.route,
            other => panic!("expected withdrawals only: {other:?}"),
        })
        .collect()
}

#[test]
fn detach_withdraws_the_bindings() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    attach(&mut e, VNI, mac(1), Some(ip("192.0.2.10")), false, now).unwrap();
    attach(&mut e, VNI, mac(1), Some(ip("192.0.2.11")), false, now).unwrap();
    drain_routes(&mut e);
    // One IP goes: only its MAC+IP route is withdrawn.
    detach(&mut e, VNI, mac(1), Some(ip("192.0.2.10")));
    let w = withdrawn(&drain_routes(&mut e));
    assert_eq!(w.len(), 1);
    assert!(matches!(w[0], Route::Evpn(EvpnRoute::MacIp(m)) if m.ip == Some(ip("192.0.2.10"))));
    // The MAC goes: its remaining MAC+IP route and the MAC-only route are withdrawn.
    detach(&mut e, VNI, mac(1), None);
    let w = withdrawn(&drain_routes(&mut e));
    let mut ips: Vec<Option<IpAddr>> = w
        .iter()
        .map(|r| match r {
            Route::Evpn(EvpnRoute::MacIp(m)) => m.ip,
            _ => panic!(),
        })
        .collect();
    ips.sort();
    assert_eq!(ips, vec![None, Some(ip("192.0.2.11"))]);
    assert!(e.mac_table(VNI).is_empty());
    // Detaching something unknown does nothing.
    detach(&mut e, VNI, mac(9), None);
    assert!(drain_routes(&mut e).is_empty());
}

#[test]
fn remove_evi_withdraws_everything_and_removes_remote_state() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    e.add_evi(EviConfig::new(vni(200)));
    let now = Instant::now();
    attach(&mut e, VNI, mac(1), Some(ip("192.0.2.10")), false, now).unwrap();
    attach(&mut e, vni(200), mac(3), None, false, now).unwrap();
    let vtep = ip("198.18.0.2");
    e.remote_best_change(
        &remote_mac_ip(
            remote_rd(),
            VNI,
            mac(2),
            Some(ip("192.0.2.20")),
            vtep,
            vec![rt(65001, VNI.get())],
        ),
        now,
    );
    e.remote_best_change(
        &remote_imet(remote_rd(), VNI, vtep, vec![rt(65001, VNI.get())]),
        now,
    );
    drain_routes(&mut e);
    drain_intents(&mut e);

    e.remove_evi(VNI);
    let w = withdrawn(&drain_routes(&mut e));
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w
        .iter()
        .any(|r| matches!(r, Route::Evpn(EvpnRoute::InclusiveMulticast(_)))));
    assert!(w
        .iter()
        .all(|r| r.family() == Family::L2VPN_EVPN && r_vni_is(r, VNI)));
    let mut intents = drain_intents(&mut e);
    intents.sort();
    assert_eq!(
        intents,
        vec![
            DataplaneIntent::RemoveRemoteMac {
                vni: VNI,
                mac: mac(2)
            },
            DataplaneIntent::RemoveFlood { vni: VNI, vtep },
            // The local binding (proxy ARP) and the remote one.
            DataplaneIntent::RemoveNeighbor {
                vni: VNI,
                ip: ip("192.0.2.10")
            },
            DataplaneIntent::RemoveNeighbor {
                vni: VNI,
                ip: ip("192.0.2.20")
            },
        ]
    );
    assert!(e.mac_table(VNI).is_empty());
    assert!(e.flood_list(VNI).is_empty());
    // The other EVI is untouched.
    assert_eq!(e.mac_table(vni(200)).len(), 1);
    assert!(e.evi(vni(200)).is_some() && e.evi(VNI).is_none());
}

/// The RD of our routes carries the VNI's low 16 bits (auto RD).
fn r_vni_is(r: &Route, vni: Vni) -> bool {
    match r {
        Route::Evpn(ev) => ev.rd().0[6..] == (vni.get() as u16).to_be_bytes(),
        _ => false,
    }
}

// ----- import -----

#[test]
fn import_remote_type2_and_type3_then_withdraw() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    drain_routes(&mut e);
    let now = Instant::now();
    let vtep = ip("198.18.0.2");
    let mac_only = remote_mac_ip(
        remote_rd(),
        VNI,
        mac(2),
        None,
        vtep,
        vec![rt(65001, VNI.get()), mobility(3, false)],
    );
    let mac_ip = remote_mac_ip(
        remote_rd(),
        VNI,
        mac(2),
        Some(ip("192.0.2.20")),
        vtep,
        vec![rt(65001, VNI.get()), mobility(3, false)],
    );
    let imet = remote_imet(remote_rd(), VNI, vtep, vec![rt(65001, VNI.get())]);
    e.remote_best_change(&mac_only, now);
    e.remote_best_change(&mac_ip, now);
    e.remote_best_change(&imet, now);
    assert_eq!(
        drain_intents(&mut e),
        vec![
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(2),
                vtep,
                sticky: false
            },
            DataplaneIntent::Neighbor {
                vni: VNI,
                ip: ip("192.0.2.20"),
                mac: mac(2),
                router: false,
                local: false
            },
            DataplaneIntent::Flood { vni: VNI, vtep },
        ]
    );
    let t = e.mac_table(VNI);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].origin, MacOrigin::Remote { vtep });
    assert_eq!(t[0].sequence, 3);
    assert!(!t[0].sticky);
    assert_eq!(t[0].ips, vec![ip("192.0.2.20")]);
    assert_eq!(e.flood_list(VNI), vec![vtep]);
    assert_eq!(
        e.neighbors(VNI)
            .iter()
            .map(|n| (n.ip, n.mac))
            .collect::<Vec<_>>(),
        vec![(ip("192.0.2.20"), mac(2))]
    );
    // Import produces no routes.
    assert!(drain_routes(&mut e).is_empty());
    // The same best path again changes nothing.
    e.remote_best_change(&mac_ip, now);
    assert!(drain_intents(&mut e).is_empty());

    // The MAC+IP route goes: the neighbour goes, the MAC stays (the MAC-only route backs it).
    e.remote_best_change(&gone(mac_ip), now);
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoveNeighbor {
            vni: VNI,
            ip: ip("192.0.2.20")
        }]
    );
    assert_eq!(e.mac_table(VNI).len(), 1);
    e.remote_best_change(&gone(mac_only), now);
    e.remote_best_change(&gone(imet), now);
    assert_eq!(
        drain_intents(&mut e),
        vec![
            DataplaneIntent::RemoveRemoteMac {
                vni: VNI,
                mac: mac(2)
            },
            DataplaneIntent::RemoveFlood { vni: VNI, vtep },
        ]
    );
    assert!(e.mac_table(VNI).is_empty());
    assert!(e.flood_list(VNI).is_empty());
}

#[test]
fn new_best_path_from_another_vtep_moves_the_entry() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let a = remote_mac_ip(
        remote_rd(),
        VNI,
        mac(2),
        None,
        ip("198.18.0.2"),
        vec![rt(65001, VNI.get())],
    );
    let b = remote_mac_ip(
        remote_rd(),
        VNI,
        mac(2),
        None,
        ip("198.18.0.3"),
        vec![rt(65001, VNI.get()), mobility(1, true)],
    );
    e.remote_best_change(&a, now);
    e.remote_best_change(&b, now);
    assert_eq!(
        drain_intents(&mut e),
        vec![
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(2),
                vtep: ip("198.18.0.2"),
                sticky: false
            },
            // The new best path carries the sticky bit: the FDB entry becomes static.
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(2),
                vtep: ip("198.18.0.3"),
                sticky: true
            },
        ]
    );
    let t = e.mac_table(VNI);
    assert_eq!((t[0].sequence, t[0].sticky), (1, true));
}

#[test]
fn foreign_route_targets_and_unknown_vnis_are_ignored() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let vtep = ip("198.18.0.2");
    // Right VNI, foreign RT.
    e.remote_best_change(
        &remote_mac_ip(remote_rd(), VNI, mac(2), None, vtep, vec![rt(65001, 999)]),
        now,
    );
    e.remote_best_change(
        &remote_imet(remote_rd(), VNI, vtep, vec![rt(65002, VNI.get())]),
        now,
    );
    // Right RT, VNI without EVI.
    e.remote_best_change(
        &remote_mac_ip(
            remote_rd(),
            vni(300),
            mac(3),
            None,
            vtep,
            vec![rt(65001, VNI.get())],
        ),
        now,
    );
    // No RT at all.
    e.remote_best_change(&remote_imet(remote_rd(), VNI, vtep, vec![]), now);
    assert!(drain_intents(&mut e).is_empty());
    assert!(e.mac_table(VNI).is_empty());
    assert!(e.flood_list(VNI).is_empty());
    // Withdrawing something never imported is harmless.
    e.remote_best_change(&gone(remote_imet(remote_rd(), VNI, vtep, vec![])), now);
    assert!(drain_intents(&mut e).is_empty());
}

#[test]
fn routes_labelled_vni_0_match_no_evi() {
    // VNI 0 is not a segment (RFC 7348 §5): a type-2 or type-3 route whose label field is 0
    // imports nothing, even when it carries a route target some EVI imports.
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let vtep = ip("198.18.0.2");
    let zero = Label::from_raw(0);
    let rts = vec![rt(65001, VNI.get())];
    e.remote_best_change(
        &remote_mac_ip_labelled(remote_rd(), zero, mac(2), None, vtep, rts.clone()),
        now,
    );
    e.remote_best_change(
        &remote_imet_labelled(remote_rd(), zero, vtep, rts.clone()),
        now,
    );
    assert!(drain_intents(&mut e).is_empty());
    assert!(e.mac_table(VNI).is_empty() && e.flood_list(VNI).is_empty());
    // The same routes labelled with the EVI's VNI are imported.
    e.remote_best_change(
        &remote_mac_ip(remote_rd(), VNI, mac(2), None, vtep, rts.clone()),
        now,
    );
    e.remote_best_change(&remote_imet(remote_rd(), VNI, vtep, rts), now);
    assert_eq!(drain_intents(&mut e).len(), 2);
}

#[test]
fn wildcard_import_takes_routes_of_any_as() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig {
        import: vec![ImportTarget::AnyAs(VNI)],
        ..EviConfig::new(VNI)
    });
    let now = Instant::now();
    let vtep = ip("198.18.0.2");
    e.remote_best_change(
        &remote_mac_ip(
            remote_rd(),
            VNI,
            mac(2),
            None,
            vtep,
            vec![rt(64999, VNI.get())],
        ),
        now,
    );
    e.remote_best_change(
        &remote_imet(remote_rd(), VNI, vtep, vec![rt(64998, VNI.get())]),
        now,
    );
    // Another VNI's value is still foreign.
    e.remote_best_change(
        &remote_mac_ip(remote_rd(), VNI, mac(3), None, vtep, vec![rt(64999, 101)]),
        now,
    );
    assert_eq!(
        drain_intents(&mut e),
        vec![
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(2),
                vtep,
                sticky: false
            },
            DataplaneIntent::Flood { vni: VNI, vtep },
        ]
    );
}

#[test]
fn routes_from_our_own_vtep_are_not_installed() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let own = ip("198.18.0.1");
    e.remote_best_change(
        &remote_mac_ip(
            remote_rd(),
            VNI,
            mac(2),
            None,
            own,
            vec![rt(65001, VNI.get())],
        ),
        now,
    );
    e.remote_best_change(
        &remote_imet(remote_rd(), VNI, own, vec![rt(65001, VNI.get())]),
        now,
    );
    assert!(drain_intents(&mut e).is_empty());
    assert!(e.flood_list(VNI).is_empty());
}

// ----- two engines through a real RIB -----

fn feed_rib(rib: &mut Rib, e: &mut Engine) {
    while let Some(rc) = e.poll_route() {
        match rc {
            RouteChange::Originate {
                nlri,
                attributes,
                next_hop,
            } => rib.originate(Family::L2VPN_EVPN, nlri, attributes, next_hop),
            RouteChange::Withdraw { nlri } => rib.withdraw_local(Family::L2VPN_EVPN, &nlri),
        }
    }
}

#[test]
fn fabric_of_two_engines_through_a_rib() {
    let now = Instant::now();
    let mut a = engine("198.19.0.1", "198.18.0.1");
    let mut b = engine("198.19.0.2", "198.18.0.2");
    a.add_evi(EviConfig::new(VNI));
    b.add_evi(EviConfig::new(VNI));
    attach(&mut a, VNI, mac(1), Some(ip("192.0.2.10")), false, now).unwrap();
    // A's routes go through A's speaker RIB (PathAttrs interning, route keys, NLRI extras).
    let mut rib_a = Rib::new(RibConfig::new(ASN, Ipv4Addr::new(198, 19, 0, 1)));
    feed_rib(&mut rib_a, &mut a);
    let changes = rib_a.poll_best_changes();
    assert_eq!(changes.len(), 3, "{changes:?}");
    for c in &changes {
        b.remote_best_change(c, now);
        // A sees its own routes and ignores them.
        a.remote_best_change(c, now);
    }
    // A's only intent is its own local proxy-ARP binding.
    assert_eq!(
        drain_intents(&mut a),
        vec![DataplaneIntent::Neighbor {
            vni: VNI,
            ip: ip("192.0.2.10"),
            mac: mac(1),
            router: false,
            local: true
        }]
    );
    let t = b.mac_table(VNI);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].mac, mac(1));
    assert_eq!(
        t[0].origin,
        MacOrigin::Remote {
            vtep: ip("198.18.0.1")
        }
    );
    assert_eq!(t[0].ips, vec![ip("192.0.2.10")]);
    assert_eq!(b.flood_list(VNI), vec![ip("198.18.0.1")]);
    let mut intents = drain_intents(&mut b);
    intents.sort();
    assert_eq!(
        intents,
        vec![
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(1),
                vtep: ip("198.18.0.1"),
                sticky: false
            },
            DataplaneIntent::Flood {
                vni: VNI,
                vtep: ip("198.18.0.1")
            },
            DataplaneIntent::Neighbor {
                vni: VNI,
                ip: ip("192.0.2.10"),
                mac: mac(1),
                router: false,
                local: false
            },
        ]
    );
    // A detaches the MAC: the RIB reports the routes gone and B removes them.
    detach(&mut a, VNI, mac(1), None);
    feed_rib(&mut rib_a, &mut a);
    for c in rib_a.poll_best_changes() {
        assert!(c.best.is_none());
        b.remote_best_change(&c, now);
    }
    let mut intents = drain_intents(&mut b);
    intents.sort();
    assert_eq!(
        intents,
        vec![
            DataplaneIntent::RemoveRemoteMac {
                vni: VNI,
                mac: mac(1)
            },
            DataplaneIntent::RemoveNeighbor {
                vni: VNI,
                ip: ip("192.0.2.10")
            },
        ]
    );
    assert!(b.mac_table(VNI).is_empty());
    assert_eq!(b.flood_list(VNI), vec![ip("198.18.0.1")]);
    // A removes the EVI: B's flood list empties.
    a.remove_evi(VNI);
    feed_rib(&mut rib_a, &mut a);
    for c in rib_a.poll_best_changes() {
        b.remote_best_change(&c, now);
    }
    assert_eq!(
        drain_intents(&mut b),
        vec![DataplaneIntent::RemoveFlood {
            vni: VNI,
            vtep: ip("198.18.0.1")
        }]
    );
    assert_eq!(rib_a.route_count(Family::L2VPN_EVPN), 0);
}

#[test]
fn changing_the_rd_withdraws_old_routes_and_originates_new_ones() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    attach(&mut e, VNI, mac(1), None, false, Instant::now()).unwrap();
    drain_routes(&mut e);
    // Same config again: nothing.
    e.add_evi(EviConfig::new(VNI));
    assert!(drain_routes(&mut e).is_empty());
    let new_rd = RouteDistinguisher::as2(65001, 4242);
    e.add_evi(EviConfig {
        rd: Some(new_rd),
        ..EviConfig::new(VNI)
    });
    let routes = drain_routes(&mut e);
    let old_rd = auto_rd(Ipv4Addr::new(198, 19, 0, 1), VNI);
    let (w, o): (Vec<_>, Vec<_>) = routes
        .iter()
        .partition(|r| matches!(r, RouteChange::Withdraw { .. }));
    assert_eq!(w.len(), 2, "type 3 and type 2 withdrawn: {routes:?}");
    assert_eq!(o.len(), 2, "type 3 and type 2 re-originated: {routes:?}");
    for r in w {
        let RouteChange::Withdraw { nlri } = r else {
            panic!()
        };
        let Route::Evpn(ev) = nlri.route else {
            panic!()
        };
        assert_eq!(ev.rd(), old_rd);
    }
    for r in o {
        let RouteChange::Originate { nlri, .. } = r else {
            panic!()
        };
        let Route::Evpn(ev) = nlri.route else {
            panic!()
        };
        assert_eq!(ev.rd(), new_rd);
    }
}

#[test]
fn two_routes_for_one_mac_prefer_higher_sequence_and_fall_back_without_gap() {
    // Two VTEPs advertise one MAC under their own RDs (distinct routes for the RIB). The entry
    // follows the higher sequence number (RFC 7432 §15); when that route goes, the entry
    // re-points to the other VTEP with no removal in between.
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let rd3 = RouteDistinguisher::ipv4(Ipv4Addr::new(198, 19, 0, 3), VNI.get() as u16);
    let old = remote_mac_ip(
        remote_rd(),
        VNI,
        mac(2),
        None,
        ip("198.18.0.2"),
        vec![rt(65001, VNI.get()), mobility(4, false)],
    );
    let newer = remote_mac_ip(
        rd3,
        VNI,
        mac(2),
        None,
        ip("198.18.0.3"),
        vec![rt(65001, VNI.get()), mobility(5, false)],
    );
    e.remote_best_change(&newer, now);
    e.remote_best_change(&old, now);
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoteMac {
            vni: VNI,
            mac: mac(2),
            vtep: ip("198.18.0.3"),
            sticky: false
        }]
    );
    assert_eq!(e.mac_table(VNI)[0].sequence, 5);
    e.remote_best_change(&gone(newer), now);
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoteMac {
            vni: VNI,
            mac: mac(2),
            vtep: ip("198.18.0.2"),
            sticky: false
        }]
    );
    e.remote_best_change(&gone(old), now);
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoveRemoteMac {
            vni: VNI,
            mac: mac(2)
        }]
    );
}

#[test]
fn remote_binding_of_a_non_host_ip_installs_the_mac_only() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let vtep = ip("198.18.0.2");
    for bad in ["224.0.0.1", "0.0.0.0", "255.255.255.255", "ff02::1"] {
        let c = remote_mac_ip(
            remote_rd(),
            VNI,
            mac(2),
            Some(ip(bad)),
            vtep,
            vec![rt(65001, VNI.get())],
        );
        e.remote_best_change(&c, now);
        assert!(e.neighbors(VNI).is_empty(), "{bad}");
        assert!(e.mac_table(VNI)[0].ips.is_empty(), "{bad}");
        e.remote_best_change(&c, now);
        e.remote_best_change(&gone(c), now);
    }
    // One RemoteMac per announcement and one removal per withdrawal: nothing else.
    let intents = drain_intents(&mut e);
    assert_eq!(intents.len(), 8, "{intents:?}");
    assert!(intents.iter().all(|i| matches!(
        i,
        DataplaneIntent::RemoteMac { .. } | DataplaneIntent::RemoveRemoteMac { .. }
    )));
    assert!(e.mac_table(VNI).is_empty());
}

// ----- dormant local claims (RFC 7432 §15) -----

/// The RD of the remote VTEP `198.18.0.<n>` (router id `198.19.0.<n>`).
fn rd_of(n: u8) -> RouteDistinguisher {
    RouteDistinguisher::ipv4(Ipv4Addr::new(198, 19, 0, n), VNI.get() as u16)
}

/// The MAC-only type-2 route of `m` from VTEP `198.18.0.<n>` with MAC mobility `seq`/`sticky`.
fn claim_from(n: u8, m: MacAddress, seq: u32, sticky: bool) -> BestChange {
    remote_mac_ip(
        rd_of(n),
        VNI,
        m,
        None,
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
        vec![rt(65001, VNI.get()), mobility(seq, sticky)],
    )
}

/// Each route change as (originated?, IP of the type-2 route, MAC mobility (sequence, sticky)
/// it carries; (0, false) without the community).
fn type2_changes(routes: &[RouteChange]) -> Vec<(bool, Option<IpAddr>, (u32, bool))> {
    routes
        .iter()
        .map(|r| {
            let (nlri, mob) = match r {
                RouteChange::Originate {
                    nlri, attributes, ..
                } => {
                    let mob = ext_comms(attributes)
                        .iter()
                        .find_map(|c| match c.kind() {
                            ExtCommunityKind::MacMobility { sequence, sticky } => {
                                Some((sequence, sticky))
                            }
                            _ => None,
                        })
                        .unwrap_or((0, false));
                    (nlri, Some(mob))
                }
                RouteChange::Withdraw { nlri } => (nlri, None),
            };
            let Route::Evpn(EvpnRoute::MacIp(m)) = nlri.route else {
                panic!("not type 2: {r:?}");
            };
            (mob.is_some(), m.ip, mob.unwrap_or((0, false)))
        })
        .collect()
}

fn drain_events(e: &mut Engine) -> Vec<EngineEvent> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

#[test]
fn a_losing_local_claim_stays_dormant_and_wins_back_above_every_sequence_seen() {
    // RFC 7432 §15: the PE whose MAC loses to a higher sequence withdraws its route; the MAC
    // is still attached here, so once the routes that beat it are gone it is advertised again,
    // with the highest sequence number seen + 1, as a local learn of a MAC held remotely is.
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let t0 = Instant::now();
    let addr = ip("192.0.2.10");
    attach(&mut e, VNI, mac(1), Some(addr), false, t0).unwrap();
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::Neighbor {
            vni: VNI,
            ip: addr,
            mac: mac(1),
            router: false,
            local: true
        }]
    );
    drain_routes(&mut e);
    drain_events(&mut e);
    let (a, b) = (
        claim_from(2, mac(1), 3, false),
        claim_from(3, mac(1), 5, false),
    );

    // A higher sequence from VTEP 2: the local routes are withdrawn, the remote entry goes
    // into the FDB, the local binding is no longer installed (nothing local while dormant).
    e.remote_best_change(&a, t0);
    let mut w = type2_changes(&drain_routes(&mut e));
    w.sort();
    assert_eq!(
        w,
        vec![(false, None, (0, false)), (false, Some(addr), (0, false))]
    );
    assert_eq!(
        drain_intents(&mut e),
        vec![
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(1),
                vtep: ip("198.18.0.2"),
                sticky: false
            },
            DataplaneIntent::RemoveNeighbor { vni: VNI, ip: addr },
        ]
    );
    assert!(e.neighbors(VNI).is_empty());
    let t = e.mac_table(VNI);
    assert_eq!(
        (t[0].origin, t[0].sequence, t[0].ips.clone()),
        (
            Location::Remote {
                vtep: ip("198.18.0.2")
            },
            3,
            vec![]
        )
    );
    assert_eq!(e.vni_summaries()[0].local_macs, 0);

    // An even higher one from VTEP 3 comes and goes: the FDB entry follows the winner, the
    // dormant claim still loses to VTEP 2 and advertises nothing.
    e.remote_best_change(&b, t0);
    e.remote_best_change(&gone(b), t0);
    assert!(drain_routes(&mut e).is_empty());
    assert_eq!(
        drain_intents(&mut e),
        vec![
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(1),
                vtep: ip("198.18.0.3"),
                sticky: false
            },
            DataplaneIntent::RemoteMac {
                vni: VNI,
                mac: mac(1),
                vtep: ip("198.18.0.2"),
                sticky: false
            },
        ]
    );

    // VTEP 2 withdraws: the dormant claim wins again with 5 + 1, its binding comes back.
    let t1 = t0 + std::time::Duration::from_secs(1);
    e.remote_best_change(&gone(a), t1);
    let mut o = type2_changes(&drain_routes(&mut e));
    o.sort();
    assert_eq!(
        o,
        vec![(true, None, (6, false)), (true, Some(addr), (6, false))]
    );
    assert_eq!(
        drain_intents(&mut e),
        vec![
            DataplaneIntent::RemoveRemoteMac {
                vni: VNI,
                mac: mac(1)
            },
            DataplaneIntent::Neighbor {
                vni: VNI,
                ip: addr,
                mac: mac(1),
                router: false,
                local: true
            },
        ]
    );
    let t = e.mac_table(VNI);
    assert_eq!((t[0].origin, t[0].sequence), (Location::Local, 6));
    assert_eq!(t[0].since, t1);
    // Two moves counted (RFC 7432 §15.1): away to VTEP 2, and back here like a local learn.
    assert_eq!(t[0].moves, 2);
    let ev = drain_events(&mut e);
    assert!(ev.contains(&EngineEvent::Moved {
        vni: VNI,
        mac: mac(1),
        from: Location::Remote {
            vtep: ip("198.18.0.2")
        },
        to: Location::Local,
        sequence: 6,
    }));
}

#[test]
fn a_dormant_claim_wins_back_when_the_remote_route_is_replaced_by_one_it_beats() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    attach(&mut e, VNI, mac(1), None, false, now).unwrap();
    e.remote_best_change(&claim_from(2, mac(1), 2, false), now);
    drain_routes(&mut e);
    drain_intents(&mut e);
    // VTEP 2 now advertises sequence 0 (say, after losing its state): equal to ours, and our
    // VTEP is the lower one, so the local claim wins; it is advertised above the 2 seen.
    e.remote_best_change(&claim_from(2, mac(1), 0, false), now);
    assert_eq!(
        type2_changes(&drain_routes(&mut e)),
        vec![(true, None, (3, false))]
    );
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoveRemoteMac {
            vni: VNI,
            mac: mac(1)
        }]
    );
    assert_eq!(e.mac_table(VNI)[0].origin, Location::Local);
}

#[test]
fn attaching_a_dormant_mac_again_is_a_learn_above_the_remote_sequence() {
    // The orchestrator (or the kernel) reports the MAC here again while a remote route holds
    // it: a local learn of a MAC held remotely (RFC 7432 §15), so it takes the MAC back.
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    attach(&mut e, VNI, mac(1), None, false, now).unwrap();
    e.remote_best_change(&claim_from(2, mac(1), 4, false), now);
    drain_routes(&mut e);
    drain_intents(&mut e);
    attach(&mut e, VNI, mac(1), None, false, now).unwrap();
    assert_eq!(
        type2_changes(&drain_routes(&mut e)),
        vec![(true, None, (5, false))]
    );
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoveRemoteMac {
            vni: VNI,
            mac: mac(1)
        }]
    );
    // Once active, attaching again changes nothing.
    attach(&mut e, VNI, mac(1), None, false, now).unwrap();
    assert!(drain_routes(&mut e).is_empty() && drain_intents(&mut e).is_empty());
}

#[test]
fn detaching_a_dormant_claim_leaves_nothing_behind() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    let addr = ip("192.0.2.10");
    attach(&mut e, VNI, mac(1), Some(addr), false, now).unwrap();
    let a = claim_from(2, mac(1), 1, false);
    e.remote_best_change(&a, now);
    drain_routes(&mut e);
    drain_intents(&mut e);
    // The detach ends the dormant claim: nothing to withdraw, the FDB keeps the remote entry.
    detach(&mut e, VNI, mac(1), None);
    assert!(drain_routes(&mut e).is_empty());
    assert!(drain_intents(&mut e).is_empty());
    assert_eq!(
        e.mac_table(VNI)[0].origin,
        Location::Remote {
            vtep: ip("198.18.0.2")
        }
    );
    // The remote route goes: the MAC is gone, nothing comes back here.
    e.remote_best_change(&gone(a), now);
    assert!(drain_routes(&mut e).is_empty());
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoveRemoteMac {
            vni: VNI,
            mac: mac(1)
        }]
    );
    assert!(e.mac_table(VNI).is_empty() && e.neighbors(VNI).is_empty());
    assert_eq!(e.vni_summaries()[0].local_macs, 0);
}

#[test]
fn a_dormant_claim_behind_a_sticky_remote_mac_takes_over_once_it_goes() {
    let mut e = engine("198.19.0.1", "198.18.0.1");
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    attach(&mut e, VNI, mac(1), None, false, now).unwrap();
    drain_routes(&mut e);
    drain_events(&mut e);
    let s = claim_from(2, mac(1), 0, true);
    e.remote_best_change(&s, now);
    // The static MAC wins whatever the sequence numbers (RFC 7432 §15.2): our route is
    // withdrawn, the FDB entry is static, the conflict is raised.
    assert_eq!(
        type2_changes(&drain_routes(&mut e)),
        vec![(false, None, (0, false))]
    );
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoteMac {
            vni: VNI,
            mac: mac(1),
            vtep: ip("198.18.0.2"),
            sticky: true
        }]
    );
    assert!(drain_events(&mut e).contains(&EngineEvent::StickyConflict {
        vni: VNI,
        mac: mac(1),
        sticky_at: Location::Remote {
            vtep: ip("198.18.0.2")
        },
        claimed_at: Location::Local,
    }));
    assert!(e.mac_table(VNI)[0].sticky_conflict);
    // Attaching again does not take a static MAC over.
    attach(&mut e, VNI, mac(1), None, false, now).unwrap();
    assert!(drain_routes(&mut e).is_empty() && drain_intents(&mut e).is_empty());
    // The sticky route goes: the dormant claim takes over above the 0 seen.
    e.remote_best_change(&gone(s), now);
    assert_eq!(
        type2_changes(&drain_routes(&mut e)),
        vec![(true, None, (1, false))]
    );
    assert_eq!(
        drain_intents(&mut e),
        vec![DataplaneIntent::RemoveRemoteMac {
            vni: VNI,
            mac: mac(1)
        }]
    );
    let t = e.mac_table(VNI);
    assert_eq!(
        (t[0].origin, t[0].sticky_conflict),
        (Location::Local, false)
    );
}

#[test]
fn a_freeze_at_a_remote_location_ends_with_the_local_claim_still_dormant() {
    // Three moves freeze the MAC where the third put it: at VTEP 2. When the freeze ends the
    // dormant local claim still loses to VTEP 2's higher sequence, so it stays dormant: the
    // end of a freeze is not a learn.
    let mut cfg = EngineConfig::new(ASN, Ipv4Addr::new(198, 19, 0, 1), ip("198.18.0.1"));
    cfg.duplicate_detection = DuplicateDetection {
        max_moves: 3,
        ..DuplicateDetection::default()
    };
    let mut e = Engine::new(cfg);
    e.add_evi(EviConfig::new(VNI));
    let now = Instant::now();
    attach(&mut e, VNI, mac(1), None, false, now).unwrap();
    e.remote_best_change(&claim_from(2, mac(1), 1, false), now); // move 1: away
    e.remote_best_change(&gone(claim_from(2, mac(1), 1, false)), now); // move 2: back (seq 2)
    e.remote_best_change(&claim_from(2, mac(1), 3, false), now); // move 3: away, frozen
    let t = e.mac_table(VNI);
    assert!(matches!(t[0].duplicate, DuplicateState::Frozen { .. }));
    assert_eq!(
        t[0].origin,
        Location::Remote {
            vtep: ip("198.18.0.2")
        }
    );
    drain_routes(&mut e);
    drain_intents(&mut e);
    let until = e.poll_timeout().unwrap();
    e.handle_timeout(until);
    assert!(drain_routes(&mut e).is_empty());
    assert!(drain_intents(&mut e).is_empty());
    let t = e.mac_table(VNI);
    assert_eq!(t[0].duplicate, DuplicateState::Normal);
    assert_eq!(
        (t[0].origin, t[0].sequence),
        (
            Location::Remote {
                vtep: ip("198.18.0.2")
            },
            3
        )
    );
}

/// `evpnctl explain`: import verdicts and decisions.
mod explain;

/// Layer 3: VRFs, IRB, IP prefix routes.
mod l3;
