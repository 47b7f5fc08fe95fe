//! proptest strategies for every value type of the wire codec.
//!
//! Each strategy produces values that are *valid for encoding* (they pass `validate_update` /
//! `validate_open` for the context they were generated for), so a round trip through the wire
//! must give them back unchanged and accepted: reserved bits are zero (RFC layouts), path
//! identifiers are present exactly for the ADD-PATH families of the context (RFC 7911 §3), and
//! attributes that a context forbids (LOCAL_PREF to an external peer, AS4_PATH between 4-octet
//! speakers, ...) are not generated for it.
//!
//! Shared by the integration tests through `mod common;`; not every test file uses every
//! strategy, hence the `dead_code` allowance.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use evpnd_wire::attribute::{attr_type, TunnelSubTlv, TunnelTlv};
use evpnd_wire::capability::{
    AddPathFamily, AddPathMode, BgpRole, GracefulRestart, GracefulRestartFamily, LlgrFamily,
};
use evpnd_wire::{
    Afi, Aggregator, AsPath, AsSegment, AttrSet, Capability, CodecContext, Community, Esi,
    EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family,
    InclusiveMulticastRoute, IpPrefix, IpPrefixRoute, Ipv6ExtCommunityKind, Ipv6ExtendedCommunity,
    Label, LargeCommunity, MacAddress, MacIpRoute, Message, MpReach, MpUnreach, NextHop, Nlri,
    Notification, Open, Origin, PathAttribute, PmsiTunnel, PmsiTunnelId, Route, RouteDistinguisher,
    RouteRefresh, RouteTarget, RtMembership, Safi, SegmentType, UnknownAttribute, Update,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The four families the codec parses into typed routes.
pub const KNOWN_FAMILIES: [Family; 4] = [
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
    Family::RT_CONSTRAINT,
    Family::L2VPN_EVPN,
];

// ---------------------------------------------------------------------------------------------
// Session context
// ---------------------------------------------------------------------------------------------

/// Any codec context: 2- or 4-octet AS, with or without extended messages, iBGP or eBGP, and
/// ADD-PATH for any subset of the four known families.
pub fn codec_context() -> impl Strategy<Value = CodecContext> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<[bool; 4]>(),
        any::<bool>(),
    )
        .prop_map(
            |(four_octet_as, extended_message, ap, external_peer)| CodecContext {
                four_octet_as,
                extended_message,
                add_path: KNOWN_FAMILIES
                    .iter()
                    .zip(ap)
                    .filter(|(_, on)| *on)
                    .map(|(f, _)| *f)
                    .collect(),
                external_peer,
            },
        )
}

/// Like [`codec_context`] but never with extended messages (4096-byte limit).
pub fn codec_context_4096() -> impl Strategy<Value = CodecContext> {
    codec_context().prop_map(|mut c| {
        c.extended_message = false;
        c
    })
}

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

/// Any IPv4 address.
pub fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

/// Any IPv6 address.
pub fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

/// Any IPv4 or IPv6 address.
pub fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![ipv4().prop_map(IpAddr::V4), ipv6().prop_map(IpAddr::V6)]
}

/// An address of the given family, sometimes the unspecified one.
fn ip_of(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        prop_oneof![
            1 => Just(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            3 => ipv6().prop_map(IpAddr::V6),
        ]
        .boxed()
    } else {
        prop_oneof![
            1 => Just(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            3 => ipv4().prop_map(IpAddr::V4),
        ]
        .boxed()
    }
}

/// Any MAC address (unicast or group).
pub fn mac() -> impl Strategy<Value = MacAddress> {
    any::<[u8; 6]>().prop_map(MacAddress)
}

/// A unicast, non-zero MAC address (I/G bit clear, U/L bit set: a locally administered one).
pub fn unicast_mac() -> impl Strategy<Value = MacAddress> {
    any::<[u8; 6]>().prop_map(|mut b| {
        b[0] = (b[0] & 0xfe) | 0x02;
        MacAddress(b)
    })
}

/// Any 24-bit label field, built through each of the three constructors, with the edges.
pub fn label() -> impl Strategy<Value = Label> {
    prop_oneof![
        1 => Just(Label::from_raw(0)),
        1 => Just(Label::from_raw(0x00ff_ffff)),
        3 => (0u32..=0x00ff_ffff).prop_map(Label::from_raw),
        3 => (0u32..=0x00ff_ffff).prop_map(|v| Label::from_vni(v).unwrap()),
        3 => (0u32..=0x000f_ffff, any::<bool>()).prop_map(|(l, b)| Label::from_mpls(l, b).unwrap()),
    ]
}

/// A route distinguisher of type 0, 1, 2 (RFC 4364 §4.2) or any other type.
pub fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    prop_oneof![
        (any::<u16>(), any::<u32>()).prop_map(|(a, n)| RouteDistinguisher::as2(a, n)),
        (ipv4(), any::<u16>()).prop_map(|(a, n)| RouteDistinguisher::ipv4(a, n)),
        (any::<u32>(), any::<u16>()).prop_map(|(a, n)| RouteDistinguisher::as4(a, n)),
        (3u16..=u16::MAX, any::<[u8; 6]>()).prop_map(|(t, v)| {
            let mut b = [0u8; 8];
            b[..2].copy_from_slice(&t.to_be_bytes());
            b[2..].copy_from_slice(&v);
            RouteDistinguisher(b)
        }),
    ]
}

/// An ESI of each type of RFC 7432 §5 (reserved octets zero), or of another type.
pub fn esi() -> impl Strategy<Value = Esi> {
    let with = |t: u8, body: &[u8]| {
        let mut b = [0u8; 10];
        b[0] = t;
        b[1..1 + body.len()].copy_from_slice(body);
        Esi(b)
    };
    prop_oneof![
        1 => Just(Esi::ZERO),
        1 => Just(Esi::MAX),
        2 => any::<[u8; 9]>().prop_map(move |v| with(0, &v)),
        2 => (any::<[u8; 6]>(), any::<u16>())
            .prop_map(move |(m, k)| with(1, &[&m[..], &k.to_be_bytes()[..]].concat())),
        2 => (any::<[u8; 6]>(), any::<u16>())
            .prop_map(move |(m, p)| with(2, &[&m[..], &p.to_be_bytes()[..]].concat())),
        2 => (any::<[u8; 6]>(), 0u32..=0x00ff_ffff)
            .prop_map(move |(m, d)| with(3, &[&m[..], &d.to_be_bytes()[1..]].concat())),
        2 => (any::<[u8; 4]>(), any::<u32>())
            .prop_map(move |(r, d)| with(4, &[&r[..], &d.to_be_bytes()[..]].concat())),
        2 => (any::<u32>(), any::<u32>())
            .prop_map(move |(a, d)| with(5, &[&a.to_be_bytes()[..], &d.to_be_bytes()[..]].concat())),
        2 => (6u8..=255, any::<[u8; 9]>()).prop_map(move |(t, v)| with(t, &v)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// Any IPv4 prefix (host bits cleared by construction).
pub fn ipv4_prefix() -> impl Strategy<Value = IpPrefix> {
    (ipv4(), 0u8..=32).prop_map(|(a, l)| IpPrefix::new(IpAddr::V4(a), l).unwrap())
}

/// Any IPv6 prefix.
pub fn ipv6_prefix() -> impl Strategy<Value = IpPrefix> {
    (ipv6(), 0u8..=128).prop_map(|(a, l)| IpPrefix::new(IpAddr::V6(a), l).unwrap())
}

/// A Route Target membership NLRI: the default, or a (partial) target (RFC 4684 §4).
pub fn rt_membership() -> impl Strategy<Value = RtMembership> {
    prop_oneof![
        1 => Just(RtMembership::Default),
        2 => (any::<u32>(), any::<[u8; 8]>()).prop_map(|(a, rt)| RtMembership::exact(a, rt)),
        4 => (any::<u32>(), 0u8..=64, any::<[u8; 8]>())
            .prop_map(|(a, l, rt)| RtMembership::partial(a, l, rt).unwrap()),
    ]
}

/// EVPN route type 1.
pub fn ethernet_ad() -> impl Strategy<Value = EvpnRoute> {
    (rd(), esi(), any::<u32>(), label()).prop_map(|(rd, esi, ethernet_tag, label)| {
        EvpnRoute::EthernetAd(EthernetAdRoute {
            rd,
            esi,
            ethernet_tag,
            label,
        })
    })
}

/// EVPN route type 2: MAC only, MAC+IPv4 or MAC+IPv6, with one or two labels.
pub fn mac_ip() -> impl Strategy<Value = EvpnRoute> {
    (
        rd(),
        esi(),
        any::<u32>(),
        mac(),
        option::of(ip()),
        label(),
        option::of(label()),
    )
        .prop_map(|(rd, esi, ethernet_tag, mac, ip, label1, label2)| {
            EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi,
                ethernet_tag,
                mac,
                ip,
                label1,
                label2,
            })
        })
}

/// EVPN route type 3 with an IPv4 or IPv6 originator.
pub fn inclusive_multicast() -> impl Strategy<Value = EvpnRoute> {
    (rd(), any::<u32>(), ip()).prop_map(|(rd, ethernet_tag, originator)| {
        EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
            rd,
            ethernet_tag,
            originator,
        })
    })
}

/// EVPN route type 4 with an IPv4 or IPv6 originator.
pub fn ethernet_segment() -> impl Strategy<Value = EvpnRoute> {
    (rd(), esi(), ip()).prop_map(|(rd, esi, originator)| {
        EvpnRoute::EthernetSegment(EthernetSegmentRoute {
            rd,
            esi,
            originator,
        })
    })
}

/// EVPN route type 5 (IPv4 or IPv6) obeying RFC 9136 §3.1: the ESI and the gateway IP are not
/// both non-zero. The prefix bits past `prefix_len` are arbitrary (they travel as received).
///
/// A route with neither overlay index and label 0 is only usable with a Router's MAC extended
/// community (RFC 9136 §3.2); see [`fix_type5_overlay`].
pub fn ip_prefix() -> impl Strategy<Value = EvpnRoute> {
    any::<bool>()
        .prop_flat_map(|v6| {
            let max = if v6 { 128u8 } else { 32 };
            (
                rd(),
                esi(),
                any::<u32>(),
                0..=max,
                ip_of(v6),
                ip_of(v6),
                label(),
                0u8..3,
            )
        })
        .prop_map(
            |(rd, esi, ethernet_tag, prefix_len, prefix, gateway, label, overlay)| {
                // 0: ESI overlay index (gateway zero); 1: gateway overlay index (ESI zero);
                // 2: no overlay index (both zero).
                let unspec = if prefix.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                };
                let (esi, gateway) = match overlay {
                    0 => (esi, unspec),
                    1 => (Esi::ZERO, gateway),
                    _ => (Esi::ZERO, unspec),
                };
                EvpnRoute::IpPrefix(IpPrefixRoute {
                    rd,
                    esi,
                    ethernet_tag,
                    prefix_len,
                    prefix,
                    gateway,
                    label,
                })
            },
        )
}

/// Any EVPN route of the five types.
pub fn evpn_route() -> impl Strategy<Value = EvpnRoute> {
    prop_oneof![
        ethernet_ad(),
        mac_ip(),
        inclusive_multicast(),
        ethernet_segment(),
        ip_prefix(),
    ]
}

/// A route of `family` (one of [`KNOWN_FAMILIES`]).
pub fn route(family: Family) -> BoxedStrategy<Route> {
    match family {
        Family::IPV4_UNICAST => ipv4_prefix().prop_map(Route::Ipv4).boxed(),
        Family::IPV6_UNICAST => ipv6_prefix().prop_map(Route::Ipv6).boxed(),
        Family::RT_CONSTRAINT => rt_membership().prop_map(Route::RtConstraint).boxed(),
        Family::L2VPN_EVPN => evpn_route().prop_map(Route::Evpn).boxed(),
        other => panic!("no route strategy for {other}"),
    }
}

/// An NLRI of `family`, with a path identifier exactly when `add_path`.
pub fn nlri(family: Family, add_path: bool) -> impl Strategy<Value = Nlri> {
    (route(family), any::<u32>()).prop_map(move |(route, id)| Nlri {
        path_id: add_path.then_some(id),
        route,
    })
}

/// NLRI of `family` for session `ctx`, between `min` and `max` of them.
pub fn nlri_list(
    ctx: &CodecContext,
    family: Family,
    min: usize,
    max: usize,
) -> impl Strategy<Value = Vec<Nlri>> {
    vec(nlri(family, ctx.has_path_id(family)), min..=max)
}

/// RFC 9136 §3.2: without a Router's MAC, a type-5 route needs an overlay index or a non-zero
/// label. Gives such routes label 1 when `has_router_mac` is false.
pub fn fix_type5_overlay(routes: &mut [Nlri], has_router_mac: bool) {
    if has_router_mac {
        return;
    }
    for n in routes {
        if let Route::Evpn(EvpnRoute::IpPrefix(r)) = &mut n.route {
            if r.esi.is_zero() && r.gateway.is_unspecified() && r.label.raw() == 0 {
                r.label = Label::from_raw(1);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extended communities
// ---------------------------------------------------------------------------------------------

/// The (type, sub-type) pairs the codec gives a typed view (RFC 4360, RFC 9012, RFC 7432,
/// RFC 8214, RFC 8584, RFC 9047, RFC 9135).
pub const KNOWN_EXT_TYPES: [(u8, u8); 12] = [
    (0x00, 0x02),
    (0x01, 0x02),
    (0x02, 0x02),
    (0x03, 0x0c),
    (0x03, 0x0d),
    (0x06, 0x00),
    (0x06, 0x01),
    (0x06, 0x02),
    (0x06, 0x03),
    (0x06, 0x04),
    (0x06, 0x06),
    (0x06, 0x08),
];

/// A route target of each form.
pub fn route_target() -> impl Strategy<Value = RouteTarget> {
    prop_oneof![
        (any::<u16>(), any::<u32>()).prop_map(|(asn, value)| RouteTarget::As2 { asn, value }),
        (ipv4(), any::<u16>()).prop_map(|(addr, value)| RouteTarget::Ipv4 { addr, value }),
        (any::<u32>(), any::<u16>()).prop_map(|(asn, value)| RouteTarget::As4 { asn, value }),
    ]
}

/// Eight bytes whose (type, sub-type) is none of [`KNOWN_EXT_TYPES`].
pub fn unknown_ext_raw() -> impl Strategy<Value = [u8; 8]> {
    any::<[u8; 8]>().prop_filter("known extended community type", |b| {
        !KNOWN_EXT_TYPES.contains(&(b[0], b[1]))
    })
}

/// Every typed extended community, with values that fit their fields; Router's MAC addresses
/// come from `router_mac`.
pub fn ext_kind_with(
    router_mac: BoxedStrategy<MacAddress>,
) -> impl Strategy<Value = ExtCommunityKind> {
    prop_oneof![
        3 => route_target().prop_map(ExtCommunityKind::RouteTarget),
        1 => any::<u16>().prop_map(|tunnel_type| ExtCommunityKind::Encapsulation { tunnel_type }),
        1 => (any::<u32>(), any::<bool>())
            .prop_map(|(sequence, sticky)| ExtCommunityKind::MacMobility { sequence, sticky }),
        1 => (any::<bool>(), label()).prop_map(|(single_active, label)| ExtCommunityKind::EsiLabel {
            single_active,
            label
        }),
        1 => mac().prop_map(ExtCommunityKind::EsImportRouteTarget),
        1 => router_mac.prop_map(ExtCommunityKind::RouterMac),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(control_flags, l2_mtu)| {
            ExtCommunityKind::Layer2Attributes {
                control_flags,
                l2_mtu,
            }
        }),
        1 => (0u8..32, any::<u16>())
            .prop_map(|(algorithm, bitmap)| ExtCommunityKind::DfElection { algorithm, bitmap }),
        1 => any::<[bool; 4]>().prop_map(|[router, override_flag, proxy, immutable]| {
            ExtCommunityKind::ArpNd {
                router,
                override_flag,
                proxy,
                immutable,
            }
        }),
        1 => Just(ExtCommunityKind::DefaultGateway),
        2 => unknown_ext_raw().prop_map(ExtCommunityKind::Unknown),
    ]
}

/// Every typed extended community (any MAC in Router's MAC).
pub fn ext_kind() -> impl Strategy<Value = ExtCommunityKind> {
    ext_kind_with(mac().boxed())
}

/// Raw extended community bytes, biased towards the known types; reserved bits may be set.
pub fn ext_raw() -> impl Strategy<Value = [u8; 8]> {
    prop_oneof![
        3 => (proptest::sample::select(KNOWN_EXT_TYPES.to_vec()), any::<[u8; 6]>()).prop_map(
            |((t, s), v)| {
                let mut b = [0u8; 8];
                b[0] = t;
                b[1] = s;
                b[2..].copy_from_slice(&v);
                b
            }
        ),
        1 => any::<[u8; 8]>(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Path attributes
// ---------------------------------------------------------------------------------------------

/// Any AS number the session can carry in AS_PATH/AGGREGATOR: never 0 (RFC 7607 §2).
fn asn(four_octet: bool) -> BoxedStrategy<u32> {
    if four_octet {
        (1..=u32::MAX).boxed()
    } else {
        (1..=u32::from(u16::MAX)).boxed()
    }
}

fn segment(four_octet: bool, confed: bool) -> impl Strategy<Value = AsSegment> {
    let kinds = if confed {
        vec![
            SegmentType::Set,
            SegmentType::Sequence,
            SegmentType::ConfedSequence,
            SegmentType::ConfedSet,
        ]
    } else {
        vec![SegmentType::Set, SegmentType::Sequence]
    };
    let asns = prop_oneof![
        20 => vec(asn(four_octet), 1..=12),
        1 => vec(asn(four_octet), 255..=255),
    ];
    (proptest::sample::select(kinds), asns).prop_map(|(kind, asns)| AsSegment { kind, asns })
}

/// An AS_PATH for the session: 0..=3 segments of 1..=255 AS numbers; confederation segments
/// only towards internal peers.
pub fn as_path(ctx: &CodecContext) -> impl Strategy<Value = AsPath> {
    vec(segment(ctx.four_octet_as, !ctx.external_peer), 0..=3)
        .prop_map(|segments| AsPath { segments })
}

fn aggregator(four_octet: bool) -> impl Strategy<Value = Aggregator> {
    (asn(four_octet), ipv4()).prop_map(|(asn, address)| Aggregator { asn, address })
}

/// A PMSI tunnel attribute: ingress replication (IPv4/IPv6 endpoint) or another tunnel type.
pub fn pmsi_tunnel() -> impl Strategy<Value = PmsiTunnel> {
    let tunnel = prop_oneof![
        ip().prop_map(PmsiTunnelId::IngressReplication),
        (
            any::<u8>().prop_filter("type 6", |t| *t != 6),
            vec(any::<u8>(), 0..=40)
        )
            .prop_map(|(tunnel_type, id)| PmsiTunnelId::Other { tunnel_type, id }),
    ];
    (any::<u8>(), label(), tunnel).prop_map(|(flags, label, tunnel)| PmsiTunnel {
        flags,
        label,
        tunnel,
    })
}

fn tunnel_sub_tlv() -> impl Strategy<Value = TunnelSubTlv> {
    prop_oneof![
        6 => (0u8..128, vec(any::<u8>(), 0..=24)),
        3 => (128u8..=255, vec(any::<u8>(), 0..=24)),
        1 => (128u8..=255, vec(any::<u8>(), 256..=300)),
    ]
    .prop_map(|(sub_type, value)| TunnelSubTlv { sub_type, value })
}

/// A Tunnel Encapsulation attribute (RFC 9012): 1..=2 Tunnel TLVs of 0..=2 sub-TLVs.
pub fn tunnel_encapsulation() -> impl Strategy<Value = Vec<TunnelTlv>> {
    vec(
        (any::<u16>(), vec(tunnel_sub_tlv(), 0..=2)).prop_map(|(tunnel_type, sub_tlvs)| {
            TunnelTlv {
                tunnel_type,
                sub_tlvs,
            }
        }),
        1..=2,
    )
}

/// True for the type codes the codec decodes into a typed attribute (or MP_REACH/MP_UNREACH).
pub fn is_known_attr(t: u8) -> bool {
    matches!(t, 1..=10 | 14..=18 | 22 | 23 | 25 | 32 | 35)
}

/// An IPv6 address specific extended community (RFC 5701): a route target, a route origin or
/// any 20 bytes.
pub fn ipv6_ext_community() -> impl Strategy<Value = Ipv6ExtendedCommunity> {
    prop_oneof![
        2 => (ipv6(), any::<u16>())
            .prop_map(|(addr, value)| Ipv6ExtCommunityKind::RouteTarget { addr, value }.into()),
        1 => (ipv6(), any::<u16>())
            .prop_map(|(addr, value)| Ipv6ExtCommunityKind::RouteOrigin { addr, value }.into()),
        1 => any::<[u8; 20]>().prop_map(Ipv6ExtendedCommunity),
    ]
}

/// An unknown optional attribute (any flags besides Optional set and Extended Length clear),
/// with a value that sometimes needs the two-octet length.
pub fn unknown_attribute() -> impl Strategy<Value = UnknownAttribute> {
    (
        any::<u8>().prop_filter("known type", |t| !is_known_attr(*t)),
        any::<u8>(),
        prop_oneof![4 => vec(any::<u8>(), 0..=40), 1 => vec(any::<u8>(), 250..=300)],
    )
        .prop_map(|(type_code, flags, value)| UnknownAttribute {
            flags: (flags | 0x80) & !0x10,
            type_code,
            value,
        })
}

/// Extended communities for an UPDATE (Router's MAC always unicast and non-zero, RFC 9136 §3.2).
pub fn update_ext_communities() -> impl Strategy<Value = Vec<ExtendedCommunity>> {
    vec(
        ext_kind_with(unicast_mac().boxed()).prop_map(ExtendedCommunity::new),
        1..=8,
    )
}

/// One path attribute of any variant that `ctx` allows to be sent.
pub fn any_attribute(ctx: &CodecContext) -> BoxedStrategy<PathAttribute> {
    let mut arms: Vec<BoxedStrategy<PathAttribute>> = vec![
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ]
        .prop_map(PathAttribute::Origin)
        .boxed(),
        as_path(ctx).prop_map(PathAttribute::AsPath).boxed(),
        ipv4().prop_map(PathAttribute::NextHop).boxed(),
        any::<u32>().prop_map(PathAttribute::Med).boxed(),
        Just(PathAttribute::AtomicAggregate).boxed(),
        aggregator(ctx.four_octet_as)
            .prop_map(PathAttribute::Aggregator)
            .boxed(),
        vec(any::<u32>().prop_map(Community), 1..=8)
            .prop_map(PathAttribute::Communities)
            .boxed(),
        update_ext_communities()
            .prop_map(PathAttribute::ExtendedCommunities)
            .boxed(),
        pmsi_tunnel().prop_map(PathAttribute::PmsiTunnel).boxed(),
        tunnel_encapsulation()
            .prop_map(PathAttribute::TunnelEncapsulation)
            .boxed(),
        vec(
            any::<[u32; 3]>().prop_map(|[global, local1, local2]| LargeCommunity {
                global,
                local1,
                local2,
            }),
            1..=4,
        )
        .prop_map(PathAttribute::LargeCommunities)
        .boxed(),
        vec(ipv6_ext_community(), 1..=4)
            .prop_map(PathAttribute::Ipv6ExtendedCommunities)
            .boxed(),
        any::<u32>().prop_map(PathAttribute::OnlyToCustomer).boxed(),
        unknown_attribute().prop_map(PathAttribute::Unknown).boxed(),
    ];
    if !ctx.external_peer {
        // RFC 4271 §5.1.5, RFC 4456 §8: internal peers only.
        arms.push(any::<u32>().prop_map(PathAttribute::LocalPref).boxed());
        arms.push(ipv4().prop_map(PathAttribute::OriginatorId).boxed());
        arms.push(
            vec(ipv4(), 1..=8)
                .prop_map(PathAttribute::ClusterList)
                .boxed(),
        );
    }
    if !ctx.four_octet_as {
        // RFC 6793 §4.2.2: only a 4-octet speaker talking to a 2-octet one sends these.
        let confed_free = vec(segment(true, false), 1..=3);
        arms.push(
            confed_free
                .prop_map(|segments| PathAttribute::As4Path(AsPath { segments }))
                .boxed(),
        );
        arms.push(
            aggregator(true)
                .prop_map(PathAttribute::As4Aggregator)
                .boxed(),
        );
    }
    proptest::strategy::Union::new(arms).boxed()
}

/// The known optional transitive attributes: the ones that may carry the Partial bit.
pub fn is_optional_transitive(t: u8) -> bool {
    matches!(t, 7 | 8 | 16..=18 | 22 | 23 | 25 | 32 | 35)
}

/// A set of path attributes with distinct type codes, in random order, for session `ctx`;
/// ORIGIN and AS_PATH are present when `mandatory`, NEXT_HOP when `next_hop`. The returned
/// Partial set names only present optional transitive attributes.
pub fn attributes(
    ctx: &CodecContext,
    mandatory: bool,
    next_hop: bool,
) -> impl Strategy<Value = (Vec<PathAttribute>, AttrSet)> {
    let required = {
        let mut r = Vec::new();
        if mandatory {
            r.push(attr_type::ORIGIN);
            r.push(attr_type::AS_PATH);
        }
        if next_hop {
            r.push(attr_type::NEXT_HOP);
        }
        r
    };
    // Draw a handful of attributes, keep the first of each type, then add the required ones
    // that are missing.
    let drawn = any_attribute(ctx);
    let origin = any_attribute_of(ctx, attr_type::ORIGIN);
    let path = any_attribute_of(ctx, attr_type::AS_PATH);
    let nh = any_attribute_of(ctx, attr_type::NEXT_HOP);
    (vec(drawn, 0..=8), origin, path, nh)
        .prop_map(move |(drawn, origin, path, nh)| {
            let mut by_type: BTreeMap<u8, PathAttribute> = BTreeMap::new();
            for a in drawn {
                by_type.entry(a.type_code()).or_insert(a);
            }
            for (t, a) in [
                (attr_type::ORIGIN, origin),
                (attr_type::AS_PATH, path),
                (attr_type::NEXT_HOP, nh),
            ] {
                if required.contains(&t) {
                    by_type.entry(t).or_insert(a);
                }
            }
            by_type.into_values().collect::<Vec<_>>()
        })
        .prop_shuffle()
        .prop_flat_map(|attrs| {
            let n = attrs.len();
            (Just(attrs), vec(any::<bool>(), n))
        })
        .prop_map(|(attrs, marks)| {
            let mut partial = AttrSet::default();
            for (a, mark) in attrs.iter().zip(marks) {
                if mark && is_optional_transitive(a.type_code()) {
                    partial.insert(a.type_code());
                }
            }
            (attrs, partial)
        })
}

/// An attribute of exactly `type_code` (ORIGIN, AS_PATH or NEXT_HOP).
fn any_attribute_of(ctx: &CodecContext, type_code: u8) -> BoxedStrategy<PathAttribute> {
    match type_code {
        attr_type::ORIGIN => prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ]
        .prop_map(PathAttribute::Origin)
        .boxed(),
        attr_type::AS_PATH => as_path(ctx).prop_map(PathAttribute::AsPath).boxed(),
        attr_type::NEXT_HOP => ipv4().prop_map(PathAttribute::NextHop).boxed(),
        other => panic!("no strategy for attribute {other}"),
    }
}

/// True when `attrs` carry a Router's MAC extended community.
pub fn has_router_mac(attrs: &[PathAttribute]) -> bool {
    attrs.iter().any(|a| match a {
        PathAttribute::ExtendedCommunities(cs) => cs
            .iter()
            .any(|c| matches!(c.kind(), ExtCommunityKind::RouterMac(_))),
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// MP attributes and UPDATE
// ---------------------------------------------------------------------------------------------

fn ipv6_next_hop() -> impl Strategy<Value = NextHop> {
    (ipv6(), option::of(ipv6()))
        .prop_map(|(global, link_local)| NextHop::Ipv6 { global, link_local })
}

/// A next hop valid for known `family` (RFC 4760 §3; RFC 8950 for IPv4 over IPv6; RFC 7432 §7
/// and RFC 4684 allow either).
pub fn next_hop_for(family: Family) -> BoxedStrategy<NextHop> {
    if family == Family::IPV6_UNICAST {
        ipv6_next_hop().boxed()
    } else {
        prop_oneof![ipv4().prop_map(NextHop::Ipv4), ipv6_next_hop()].boxed()
    }
}

/// A family the codec does not parse.
pub fn unknown_family() -> impl Strategy<Value = Family> {
    (any::<u16>(), any::<u8>())
        .prop_map(|(a, s)| Family::new(Afi(a), Safi(s)))
        .prop_filter("known family", |f| !f.is_known())
}

/// MP_REACH_NLRI for `ctx` with up to `max` routes (opaque content for an unknown family).
pub fn mp_reach(ctx: &CodecContext, max: usize) -> impl Strategy<Value = MpReach> {
    let ctx = ctx.clone();
    let known = proptest::sample::select(KNOWN_FAMILIES.to_vec()).prop_flat_map(move |family| {
        (next_hop_for(family), nlri_list(&ctx, family, 0, max))
            .prop_map(move |(nh, nlri)| MpReach::new(family, nh, nlri))
    });
    let unknown = (
        unknown_family(),
        vec(any::<u8>(), 0..=40),
        vec(any::<u8>(), 0..=100),
    )
        .prop_map(|(family, nh, opaque)| {
            let mut m = MpReach::new(family, NextHop::Opaque(nh), Vec::new());
            m.opaque_nlri = opaque;
            m
        });
    prop_oneof![6 => known, 1 => unknown]
}

/// MP_UNREACH_NLRI for `ctx` with up to `max` routes (opaque content for an unknown family).
pub fn mp_unreach(ctx: &CodecContext, max: usize) -> impl Strategy<Value = MpUnreach> {
    let ctx = ctx.clone();
    let known = proptest::sample::select(KNOWN_FAMILIES.to_vec()).prop_flat_map(move |family| {
        nlri_list(&ctx, family, 0, max).prop_map(move |nlri| MpUnreach::new(family, nlri))
    });
    let unknown = (unknown_family(), vec(any::<u8>(), 0..=100)).prop_map(|(family, opaque)| {
        let mut m = MpUnreach::new(family, Vec::new());
        m.opaque_nlri = opaque;
        m
    });
    prop_oneof![6 => known, 1 => unknown]
}

/// A whole UPDATE that is valid for encoding on session `ctx` (RFC 4271 §4.3, RFC 4760,
/// RFC 7606 §5.1, RFC 9136 §3): mandatory attributes present when announcing, path identifiers
/// as negotiated, type-5 routes with a usable overlay index.
///
/// Sizes keep it under 4096 bytes in nearly all cases; with extended messages the route lists
/// are longer.
pub fn update(ctx: &CodecContext) -> impl Strategy<Value = Update> {
    let n = if ctx.extended_message { 60 } else { 8 };
    let v4 = Family::IPV4_UNICAST;
    let ctx2 = ctx.clone();
    (
        nlri_list(ctx, v4, 0, n),
        nlri_list(ctx, v4, 0, n),
        option::of(mp_reach(ctx, n + 4)),
        option::of(mp_unreach(ctx, n + 4)),
    )
        .prop_flat_map(move |(withdrawn, nlri, reach, unreach)| {
            let announcing = !nlri.is_empty() || reach.is_some();
            let next_hop = !nlri.is_empty();
            (
                Just(withdrawn),
                Just(nlri),
                Just(reach),
                Just(unreach),
                attributes(&ctx2, announcing, next_hop),
            )
        })
        .prop_map(
            |(withdrawn, nlri, mut mp_reach, mp_unreach, (attributes, partial))| {
                if let Some(m) = &mut mp_reach {
                    fix_type5_overlay(&mut m.nlri, has_router_mac(&attributes));
                }
                Update {
                    withdrawn,
                    mp_unreach,
                    mp_reach,
                    attributes,
                    partial,
                    nlri,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// OPEN, NOTIFICATION, ROUTE-REFRESH, messages
// ---------------------------------------------------------------------------------------------

/// Any AFI/SAFI pair.
pub fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        2 => proptest::sample::select(KNOWN_FAMILIES.to_vec()),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s))),
    ]
}

/// Capability codes the codec decodes into a typed capability.
pub const KNOWN_CAPABILITY_CODES: [u8; 10] = [1, 2, 6, 9, 64, 65, 69, 70, 71, 73];

/// Every capability variant, with values that fit the wire (RFC 5492 §4: value ≤ 255 bytes).
pub fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        Just(Capability::EnhancedRouteRefresh),
        any::<u8>().prop_map(|r| Capability::Role(BgpRole(r))),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..=0x0fff,
            vec(
                (family(), any::<bool>()).prop_map(|(family, forwarding_preserved)| {
                    GracefulRestartFamily {
                        family,
                        forwarding_preserved,
                    }
                }),
                0..=8
            )
        )
            .prop_map(|(restarting, notification, restart_time, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restarting,
                    notification,
                    restart_time,
                    families,
                })
            }),
        (1u32..=u32::MAX).prop_map(Capability::FourOctetAs),
        vec(
            (
                family(),
                prop_oneof![
                    Just(AddPathMode::Receive),
                    Just(AddPathMode::Send),
                    Just(AddPathMode::Both)
                ]
            )
                .prop_map(|(family, mode)| AddPathFamily { family, mode }),
            1..=8
        )
        .prop_map(Capability::AddPath),
        vec(
            (family(), any::<u8>(), 0u32..=0x00ff_ffff).prop_map(|(family, flags, stale_time)| {
                LlgrFamily {
                    family,
                    flags,
                    stale_time,
                }
            }),
            0..=8
        )
        .prop_map(Capability::LongLivedGracefulRestart),
        (0usize..=253)
            .prop_flat_map(|h| (vec(any::<u8>(), h), vec(any::<u8>(), 0..=(253 - h).min(40))))
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (
            any::<u8>().prop_filter("known code", |c| !KNOWN_CAPABILITY_CODES.contains(c)),
            prop_oneof![3 => vec(any::<u8>(), 0..=16), 1 => vec(any::<u8>(), 0..=255)]
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

/// An OPEN that validates (RFC 4271 §4.2, RFC 6286, RFC 7607): non-zero AS and identifier, hold
/// time 0 or ≥ 3, 0..=12 capabilities (sometimes enough for the RFC 9072 extended form).
pub fn open() -> impl Strategy<Value = Open> {
    (
        1u16..=u16::MAX,
        prop_oneof![Just(0u16), 3u16..=u16::MAX],
        ipv4().prop_filter("0.0.0.0", |a| !a.is_unspecified()),
        vec(capability(), 0..=12),
    )
        .prop_map(|(my_as, hold_time, bgp_id, capabilities)| Open {
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
}

/// A NOTIFICATION with up to 200 bytes of data.
pub fn notification() -> impl Strategy<Value = Notification> {
    (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..=200)).prop_map(|(code, subcode, data)| {
        Notification {
            code,
            subcode,
            data,
        }
    })
}

/// A ROUTE-REFRESH for any family and subtype (RFC 2918 §3, RFC 7313 §3.2).
pub fn route_refresh() -> impl Strategy<Value = RouteRefresh> {
    (family(), any::<u8>()).prop_map(|(family, subtype)| RouteRefresh { family, subtype })
}

/// Any message valid for encoding on session `ctx`.
pub fn message(ctx: &CodecContext) -> impl Strategy<Value = Message> {
    prop_oneof![
        1 => open().prop_map(Message::Open),
        4 => update(ctx).prop_map(Message::Update),
        1 => notification().prop_map(Message::Notification),
        1 => Just(Message::Keepalive),
        1 => route_refresh().prop_map(Message::RouteRefresh),
    ]
}

/// A session context together with a value generated for it.
pub fn with_context<S, F>(f: F) -> impl Strategy<Value = (CodecContext, S::Value)>
where
    S: Strategy + 'static,
    F: Fn(&CodecContext) -> S + 'static,
{
    codec_context().prop_flat_map(move |ctx| (Just(ctx.clone()), f(&ctx)))
}
