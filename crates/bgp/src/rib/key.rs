//! Route keys: the NLRI fields that identify a route, apart from the ones that travel in the
//! NLRI but describe one path of it.
//!
//! For IPv4/IPv6 unicast and RT membership the whole NLRI is the key. EVPN NLRIs carry route
//! attributes too, and "for the purpose of BGP route key processing" only some fields count:
//!
//! | type | key | attributes ([`NlriExtras`]) |
//! |------|-----|------------------------------|
//! | 1 Ethernet A-D (RFC 7432 §7.1) | RD, ESI, Ethernet tag | MPLS label |
//! | 2 MAC/IP (RFC 7432 §7.2) | RD, Ethernet tag, MAC (length), IP (length) | ESI, label 1, label 2 |
//! | 3 Inclusive Multicast (RFC 7432 §7.3) | every field | — |
//! | 4 Ethernet Segment (RFC 7432 §7.4) | every field | — |
//! | 5 IP Prefix (RFC 9136 §3.1) | RD, Ethernet tag, prefix length, prefix | ESI, gateway IP, label |
//!
//! The RIB stores routes under their [`RouteKey`] (so that a re-advertisement with another
//! label replaces the path and a withdrawal matches whatever label it carries) and each path's
//! [`NlriExtras`] in its interned attribute set; [`RouteKey::route`] puts the two back together
//! for what is sent and shown.

#[cfg(test)]
use evpnd_wire::Family;
use evpnd_wire::{
    Esi, EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, InclusiveMulticastRoute, IpPrefix,
    IpPrefixRoute, Label, MacAddress, MacIpRoute, Route, RouteDistinguisher, RtMembership,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The non-key fields of an EVPN NLRI: route attributes that travel inside the NLRI (RFC 7432
/// §7.1, §7.2, RFC 9136 §3.1). Each path of a route has its own (two peers may advertise one
/// MAC with different labels); the RIB keeps them in the path's interned [`super::PathAttrs`].
/// All zero/`None` for route types and families without such fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NlriExtras {
    /// ESI of a type-2 or type-5 route (for type 1 the ESI is part of the key).
    pub esi: Esi,
    /// The MPLS label of a type-1 or type-5 route, label 1 of a type-2 route (the VNI).
    pub label1: Label,
    /// Label 2 of a type-2 route (the L3VNI, RFC 9135), when present.
    pub label2: Option<Label>,
    /// The gateway IP of a type-5 route, as received (`None` for other routes).
    pub gateway: Option<IpAddr>,
}

/// The key of a route: the NLRI without its [`NlriExtras`]. Smaller than [`Route`] (the
/// Loc-RIB stores one per route) and compared and hashed as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RouteKey {
    /// An IPv4 unicast prefix.
    Ipv4(IpPrefix),
    /// An IPv6 unicast prefix.
    Ipv6(IpPrefix),
    /// An RT membership NLRI (RFC 4684).
    RtConstraint(RtMembership),
    /// EVPN type 1.
    EthernetAd {
        rd: RouteDistinguisher,
        esi: Esi,
        ethernet_tag: u32,
    },
    /// EVPN type 2.
    MacIp {
        rd: RouteDistinguisher,
        ethernet_tag: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
    },
    /// EVPN type 3.
    InclusiveMulticast {
        rd: RouteDistinguisher,
        ethernet_tag: u32,
        originator: IpAddr,
    },
    /// EVPN type 4.
    EthernetSegment {
        rd: RouteDistinguisher,
        esi: Esi,
        originator: IpAddr,
    },
    /// EVPN type 5.
    IpPrefix {
        rd: RouteDistinguisher,
        ethernet_tag: u32,
        prefix_len: u8,
        prefix: IpAddr,
    },
}

impl RouteKey {
    /// Splits `route` into its key and its non-key fields.
    pub fn split(route: &Route) -> (RouteKey, NlriExtras) {
        let none = NlriExtras::default();
        match *route {
            Route::Ipv4(p) => (RouteKey::Ipv4(p), none),
            Route::Ipv6(p) => (RouteKey::Ipv6(p), none),
            Route::RtConstraint(m) => (RouteKey::RtConstraint(m), none),
            Route::Evpn(EvpnRoute::EthernetAd(r)) => (
                RouteKey::EthernetAd {
                    rd: r.rd,
                    esi: r.esi,
                    ethernet_tag: r.ethernet_tag,
                },
                NlriExtras {
                    label1: r.label,
                    ..none
                },
            ),
            Route::Evpn(EvpnRoute::MacIp(r)) => (
                RouteKey::MacIp {
                    rd: r.rd,
                    ethernet_tag: r.ethernet_tag,
                    mac: r.mac,
                    ip: r.ip,
                },
                NlriExtras {
                    esi: r.esi,
                    label1: r.label1,
                    label2: r.label2,
                    gateway: None,
                },
            ),
            Route::Evpn(EvpnRoute::InclusiveMulticast(r)) => (
                RouteKey::InclusiveMulticast {
                    rd: r.rd,
                    ethernet_tag: r.ethernet_tag,
                    originator: r.originator,
                },
                none,
            ),
            Route::Evpn(EvpnRoute::EthernetSegment(r)) => (
                RouteKey::EthernetSegment {
                    rd: r.rd,
                    esi: r.esi,
                    originator: r.originator,
                },
                none,
            ),
            Route::Evpn(EvpnRoute::IpPrefix(r)) => (
                RouteKey::IpPrefix {
                    rd: r.rd,
                    ethernet_tag: r.ethernet_tag,
                    prefix_len: r.prefix_len,
                    prefix: r.prefix,
                },
                NlriExtras {
                    esi: r.esi,
                    label1: r.label,
                    label2: None,
                    gateway: Some(r.gateway),
                },
            ),
        }
    }

    /// The key of `route`.
    pub fn of(route: &Route) -> RouteKey {
        Self::split(route).0
    }

    /// The full route: this key with the non-key fields `x` (of the path being sent or shown).
    /// Fields `x` has no place for in this route type are ignored; a type-5 route without a
    /// gateway gets the unspecified address of its prefix's family.
    pub fn route(&self, x: &NlriExtras) -> Route {
        match *self {
            RouteKey::Ipv4(p) => Route::Ipv4(p),
            RouteKey::Ipv6(p) => Route::Ipv6(p),
            RouteKey::RtConstraint(m) => Route::RtConstraint(m),
            RouteKey::EthernetAd {
                rd,
                esi,
                ethernet_tag,
            } => Route::Evpn(EvpnRoute::EthernetAd(EthernetAdRoute {
                rd,
                esi,
                ethernet_tag,
                label: x.label1,
            })),
            RouteKey::MacIp {
                rd,
                ethernet_tag,
                mac,
                ip,
            } => Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi: x.esi,
                ethernet_tag,
                mac,
                ip,
                label1: x.label1,
                label2: x.label2,
            })),
            RouteKey::InclusiveMulticast {
                rd,
                ethernet_tag,
                originator,
            } => Route::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd,
                ethernet_tag,
                originator,
            })),
            RouteKey::EthernetSegment {
                rd,
                esi,
                originator,
            } => Route::Evpn(EvpnRoute::EthernetSegment(EthernetSegmentRoute {
                rd,
                esi,
                originator,
            })),
            RouteKey::IpPrefix {
                rd,
                ethernet_tag,
                prefix_len,
                prefix,
            } => Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd,
                esi: x.esi,
                ethernet_tag,
                prefix_len,
                prefix,
                gateway: x.gateway.unwrap_or(match prefix {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                }),
                label: x.label1,
            })),
        }
    }

    /// The family of the route.
    #[cfg(test)]
    pub fn family(&self) -> Family {
        match self {
            RouteKey::Ipv4(_) => Family::IPV4_UNICAST,
            RouteKey::Ipv6(_) => Family::IPV6_UNICAST,
            RouteKey::RtConstraint(_) => Family::RT_CONSTRAINT,
            _ => Family::L2VPN_EVPN,
        }
    }

    /// The RT membership, for a key of the RT-Constraint family.
    pub fn rt_membership(&self) -> Option<&RtMembership> {
        match self {
            RouteKey::RtConstraint(m) => Some(m),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn rd() -> RouteDistinguisher {
        RouteDistinguisher::as2(65001, 7)
    }

    fn esi(b: u8) -> Esi {
        Esi([0, 0, 0, 0, 0, 0, 0, 0, 0, b])
    }

    fn label(v: u32) -> Label {
        Label::from_vni(v).unwrap()
    }

    /// One route of each EVPN type, and two variants of it: `other` differs only in fields the
    /// RFCs call attributes, `distinct` in a key field.
    fn cases() -> Vec<(Route, Route, Route)> {
        let ip = |d: u8| IpAddr::V4(Ipv4Addr::new(198, 18, 0, d));
        let t1 = |tag: u32, l: u32| {
            Route::Evpn(EvpnRoute::EthernetAd(EthernetAdRoute {
                rd: rd(),
                esi: esi(1),
                ethernet_tag: tag,
                label: label(l),
            }))
        };
        let t2 = |mac: u8, e: u8, l1: u32, l2: Option<u32>| {
            Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
                rd: rd(),
                esi: esi(e),
                ethernet_tag: 0,
                mac: MacAddress([0x02, 0, 0, 0, 0, mac]),
                ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
                label1: label(l1),
                label2: l2.map(label),
            }))
        };
        let t3 = |o: u8| {
            Route::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd: rd(),
                ethernet_tag: 0,
                originator: ip(o),
            }))
        };
        let t4 = |o: u8| {
            Route::Evpn(EvpnRoute::EthernetSegment(EthernetSegmentRoute {
                rd: rd(),
                esi: esi(1),
                originator: ip(o),
            }))
        };
        let t5 = |len: u8, gw: u8, e: u8, l: u32| {
            Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd: rd(),
                esi: esi(e),
                ethernet_tag: 0,
                prefix_len: len,
                prefix: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)),
                gateway: ip(gw),
                label: label(l),
            }))
        };
        vec![
            (t1(0, 100), t1(0, 200), t1(1, 100)),
            (
                t2(1, 0, 100, None),
                t2(1, 9, 200, Some(5)),
                t2(2, 0, 100, None),
            ),
            (t3(1), t3(1), t3(2)),
            (t4(1), t4(1), t4(2)),
            (t5(24, 1, 0, 100), t5(24, 2, 0, 200), t5(25, 1, 0, 100)),
            (t5(24, 0, 3, 100), t5(24, 9, 0, 100), t5(16, 0, 3, 100)),
        ]
    }

    #[test]
    fn attribute_fields_are_not_part_of_the_key() {
        for (r, other, distinct) in cases() {
            assert_eq!(RouteKey::of(&r), RouteKey::of(&other), "{r:?} / {other:?}");
            assert_ne!(
                RouteKey::of(&r),
                RouteKey::of(&distinct),
                "{r:?} / {distinct:?}"
            );
        }
    }

    #[test]
    fn split_then_route_gives_the_route_back() {
        for (a, b, c) in cases() {
            for r in [a, b, c] {
                let (k, x) = RouteKey::split(&r);
                assert_eq!(k.route(&x), r);
                assert_eq!(k.family(), r.family());
            }
        }
        let p = IpPrefix::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0)), 24).unwrap();
        for r in [
            Route::Ipv4(p),
            Route::RtConstraint(RtMembership::Default),
            Route::RtConstraint(RtMembership::exact(65000, [0, 2, 0, 0, 0xfd, 0xe8, 0, 1])),
        ] {
            let (k, x) = RouteKey::split(&r);
            assert_eq!(x, NlriExtras::default());
            assert_eq!(k.route(&x), r);
        }
    }

    /// A type-5 route rebuilt without a gateway gets the unspecified address of its family, so
    /// that its encoded length stays the one RFC 9136 §3.1 gives for the prefix family.
    #[test]
    fn type5_without_gateway_gets_the_unspecified_address_of_its_family() {
        let v6 = IpAddr::V6("2001:db8::".parse().unwrap());
        let r = Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
            rd: rd(),
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix_len: 32,
            prefix: v6,
            gateway: v6,
            label: label(1),
        }));
        let k = RouteKey::of(&r);
        match k.route(&NlriExtras::default()) {
            Route::Evpn(EvpnRoute::IpPrefix(p)) => {
                assert_eq!(p.gateway, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn key_is_smaller_than_the_route() {
        assert!(std::mem::size_of::<RouteKey>() <= 40);
        assert!(std::mem::size_of::<RouteKey>() < std::mem::size_of::<Route>());
    }
}
