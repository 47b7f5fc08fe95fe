//! Layer-3 messages: VRF routes (one `RTM_NEWROUTE` per prefix carrying its whole ECMP set),
//! gateway addresses, bridge MACs, moves between network namespaces and `vrf` devices. Pure
//! message builders, tested at the netlink-message level (no kernel needed).

use super::fdb::EVPND_NEIGH_PROTOCOL;
use super::netdev::link_message;
use super::socket::Request;
use crate::RoutePath;
use evpnd_wire::{IpPrefix, MacAddress};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVrf, LinkAttribute, LinkInfo};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::RawFd;

/// The `rtm_protocol` of the routes evpnd installs: the same unassigned number as its
/// neighbour entries ([`EVPND_NEIGH_PROTOCOL`], 235; `ip route` shows `proto 235`). FRR uses
/// 11 (zebra), 186–198 (bgp, isis, ospf, rip, ripng, nhrp, eigrp, ldp, sharp, pbr, static,
/// openfabric, srte); iproute2's `rt_protos` names none of them 235. A restarted evpnd
/// recognises its own routes by it and never touches routes with another protocol.
pub const EVPND_ROUTE_PROTOCOL: u8 = EVPND_NEIGH_PROTOCOL;

/// The main routing table (`RT_TABLE_MAIN`): the namespace-per-VRF model routes there.
pub(crate) const MAIN_TABLE: u32 = 254;

/// The routing table of a VRF device without an explicit `table` (VRF-device model): its
/// L3VNI when it has one (the FRR/Cumulus convention of one table per L3VNI), else a number
/// derived from the VRF's name (FNV-1a, folded into 0x1000_0000..=0x1fff_ffff: above every
/// table a VNI (24 bits) can name, stable across restarts).
pub(crate) fn default_table(vrf: &str, l3vni: Option<u32>) -> u32 {
    if let Some(vni) = l3vni {
        return vni;
    }
    let mut hash: u32 = 0x811c_9dc5;
    for b in vrf.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    0x1000_0000 | (hash & 0x0fff_ffff)
}

/// The IPv4-mapped IPv6 address of an IPv4 VTEP (`::ffff:a.b.c.d`): an IPv6 route cannot name
/// an IPv4 gateway (the kernel refuses `RTA_VIA` for IPv6), so a remote path of an IPv6 prefix
/// goes via the mapped address, which has a neighbour entry of its own (what FRR does).
pub(crate) fn mapped(vtep: IpAddr) -> IpAddr {
    match vtep {
        IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
        v6 => v6,
    }
}

fn family_of(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// A route message header for `prefix` in `table` (`RTA_TABLE` carries tables above 255).
fn route_message(prefix: IpPrefix, table: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header = RouteHeader {
        address_family: family_of(prefix.addr()),
        destination_prefix_length: prefix.len(),
        table: u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC),
        protocol: RouteProtocol::from(EVPND_ROUTE_PROTOCOL),
        scope: RouteScope::Universe,
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    };
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.addr(),
        )));
    m.attributes.push(RouteAttribute::Table(table));
    m
}

/// The gateway attribute of one path, with the flags it needs: a remote path goes via the
/// VTEP (`::ffff:vtep` for an IPv6 prefix and an IPv4 VTEP; `RTA_VIA` for an IPv4 prefix and
/// an IPv6 VTEP) on the L3VNI's bridge, `onlink` (the VTEP is on no subnet of the VRF); a
/// gateway path goes via its address, resolved by the kernel on a local subnet.
fn path_hop(
    prefix: IpPrefix,
    path: RoutePath,
    l3_bridge: Option<u32>,
) -> Result<(RouteAttribute, u32, RouteNextHopFlags), String> {
    match path {
        RoutePath::Remote(vtep) => {
            let dev = l3_bridge.ok_or_else(|| {
                format!("a route through VTEP {vtep} needs the VRF's L3VNI devices")
            })?;
            let gateway = match (prefix.addr(), vtep) {
                (IpAddr::V4(_), IpAddr::V4(v)) => RouteAttribute::Gateway(RouteAddress::Inet(v)),
                (IpAddr::V4(_), IpAddr::V6(v)) => RouteAttribute::Via(RouteVia::Inet6(v)),
                (IpAddr::V6(_), v) => match mapped(v) {
                    IpAddr::V6(m) => RouteAttribute::Gateway(RouteAddress::Inet6(m)),
                    IpAddr::V4(_) => unreachable_v4(),
                },
            };
            Ok((gateway, dev, RouteNextHopFlags::Onlink))
        }
        RoutePath::Gateway(via) => {
            let gateway = match (prefix.addr(), via) {
                (IpAddr::V4(_), IpAddr::V4(v)) => RouteAttribute::Gateway(RouteAddress::Inet(v)),
                (IpAddr::V6(_), IpAddr::V6(v)) => RouteAttribute::Gateway(RouteAddress::Inet6(v)),
                (IpAddr::V4(_), IpAddr::V6(v)) => RouteAttribute::Via(RouteVia::Inet6(v)),
                (IpAddr::V6(_), IpAddr::V4(v)) => {
                    return Err(format!(
                        "an IPv6 route cannot go through the IPv4 next hop {v}"
                    ))
                }
            };
            Ok((gateway, 0, RouteNextHopFlags::empty()))
        }
    }
}

/// `mapped` never returns IPv4: the arm above it is only for the type checker.
fn unreachable_v4() -> RouteAttribute {
    RouteAttribute::Gateway(RouteAddress::Inet6(Ipv6Addr::UNSPECIFIED))
}

/// The request that makes `prefix` in `table` exactly `paths`: `RTM_NEWROUTE` with
/// `NLM_F_CREATE | NLM_F_REPLACE` (one path inline, several as `RTA_MULTIPATH`: an ECMP
/// route, RFC 9136 §4.4), or `RTM_DELROUTE` when `paths` is empty. Remote paths need the
/// ifindex of the L3VNI's bridge (`l3_bridge`).
pub(crate) fn route_request(
    table: u32,
    prefix: IpPrefix,
    paths: &[RoutePath],
    l3_bridge: Option<u32>,
) -> Result<Request, String> {
    let mut m = route_message(prefix, table);
    if paths.is_empty() {
        return Ok(Request {
            message: RouteNetlinkMessage::DelRoute(m),
            flags: 0,
        });
    }
    if let [path] = paths {
        // One path (most routes): no vector of hops.
        let (gateway, dev, flags) = path_hop(prefix, *path, l3_bridge)?;
        m.attributes.push(gateway);
        if dev != 0 {
            m.attributes.push(RouteAttribute::Oif(dev));
        }
        m.header.flags =
            netlink_packet_route::route::RouteFlags::from_bits_retain(u32::from(flags.bits()));
    } else {
        let hops = paths
            .iter()
            .map(|p| path_hop(prefix, *p, l3_bridge))
            .collect::<Result<Vec<_>, String>>()?;
        m.attributes.push(RouteAttribute::MultiPath(
            hops.into_iter()
                .map(|(gateway, dev, flags)| {
                    let mut hop = RouteNextHop::default();
                    hop.flags = flags;
                    hop.interface_index = dev;
                    hop.attributes = vec![gateway];
                    hop
                })
                .collect(),
        ));
    }
    Ok(Request {
        message: RouteNetlinkMessage::NewRoute(m),
        flags: NLM_F_CREATE | NLM_F_REPLACE,
    })
}

/// A dump request for the routes of `family` (every table; filtered by the caller).
pub(crate) fn dump_routes(family: AddressFamily) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family;
    RouteNetlinkMessage::GetRoute(m)
}

/// The prefix of a dumped route when it is ours ([`EVPND_ROUTE_PROTOCOL`]) and in `table`.
pub(crate) fn ours(m: &RouteMessage, table: u32) -> Option<IpPrefix> {
    if u8::from(m.header.protocol) != EVPND_ROUTE_PROTOCOL {
        return None;
    }
    let mut in_table = u32::from(m.header.table);
    let mut dst = match m.header.address_family {
        AddressFamily::Inet => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => in_table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = IpAddr::V4(*a),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => dst = IpAddr::V6(*a),
            _ => {}
        }
    }
    (in_table == table)
        .then(|| IpPrefix::new(dst, m.header.destination_prefix_length))
        .flatten()
}

/// `ip addr add ADDRESS/LEN dev INDEX` (IPv6: `nodad`: an anycast gateway address is on every
/// NVE at once, RFC 9135 §4.1, so duplicate address detection must not run) or `ip addr del`.
pub(crate) fn address(index: u32, address: IpAddr, prefix_len: u8, add: bool) -> Request {
    let mut m = AddressMessage::default();
    m.header.family = family_of(address);
    m.header.prefix_len = prefix_len;
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(address));
    m.attributes.push(AddressAttribute::Address(address));
    if address.is_ipv6() {
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    if add {
        Request {
            message: RouteNetlinkMessage::NewAddress(m),
            flags: NLM_F_CREATE | NLM_F_REPLACE,
        }
    } else {
        Request {
            message: RouteNetlinkMessage::DelAddress(m),
            flags: 0,
        }
    }
}

/// `ip link set INDEX address MAC`.
pub(crate) fn set_mac(index: u32, mac: MacAddress) -> RouteNetlinkMessage {
    RouteNetlinkMessage::SetLink(link_message(
        index,
        vec![LinkAttribute::Address(mac.0.to_vec())],
    ))
}

/// `ip link set INDEX netns FD`: moves a device into the network namespace `fd` refers to.
pub(crate) fn move_to_netns(index: u32, fd: RawFd) -> RouteNetlinkMessage {
    RouteNetlinkMessage::SetLink(link_message(index, vec![LinkAttribute::NetNsFd(fd)]))
}

/// `ip link add NAME type vrf table TABLE` (VRF-device model, `CONFIG_NET_VRF`).
pub(crate) fn create_vrf(name: &str, table: u32) -> (RouteNetlinkMessage, u16) {
    let m = link_message(
        0,
        vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vrf),
                LinkInfo::Data(InfoData::Vrf(vec![InfoVrf::TableId(table)])),
            ]),
        ],
    );
    (RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
}

/// The table a `vrf` device's link message names (`IFLA_VRF_TABLE`).
#[cfg(test)]
pub(crate) fn vrf_table(m: &netlink_packet_route::link::LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Data(InfoData::Vrf(d)) => d.iter().find_map(|v| match v {
                InfoVrf::TableId(t) => Some(*t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::linux::netdev::{set_master, Link};
    use crate::linux::socket::encode;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};

    fn roundtrip(m: &RouteNetlinkMessage) -> RouteNetlinkMessage {
        let bytes = encode(m, 0, 1);
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        match parsed.payload {
            NetlinkPayload::InnerMessage(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn prefix(s: &str) -> IpPrefix {
        let (a, l) = s.split_once('/').unwrap();
        IpPrefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn new_route(r: &Request) -> RouteMessage {
        assert_eq!(r.flags, NLM_F_CREATE | NLM_F_REPLACE);
        match roundtrip(&r.message) {
            RouteNetlinkMessage::NewRoute(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_remote_path_goes_via_the_vtep_onlink_on_the_l3_bridge() {
        let r = route_request(
            MAIN_TABLE,
            prefix("198.51.100.7/32"),
            &[RoutePath::Remote(ip("198.18.0.2"))],
            Some(9),
        )
        .unwrap();
        let m = new_route(&r);
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert_eq!(m.header.destination_prefix_length, 32);
        assert_eq!(m.header.table, 254);
        assert_eq!(u8::from(m.header.protocol), EVPND_ROUTE_PROTOCOL);
        assert_eq!(m.header.kind, RouteType::Unicast);
        assert!(m
            .header
            .flags
            .contains(netlink_packet_route::route::RouteFlags::Onlink));
        let a = &m.attributes;
        assert!(a.contains(&RouteAttribute::Destination(RouteAddress::Inet(
            "198.51.100.7".parse().unwrap()
        ))));
        assert!(a.contains(&RouteAttribute::Gateway(RouteAddress::Inet(
            "198.18.0.2".parse().unwrap()
        ))));
        assert!(a.contains(&RouteAttribute::Oif(9)));
        assert!(a.contains(&RouteAttribute::Table(254)));
    }

    #[test]
    fn an_ipv6_prefix_goes_via_the_mapped_vtep_and_ipv6_vteps_work_for_ipv4() {
        let r = route_request(
            MAIN_TABLE,
            prefix("2001:db8:200::/64"),
            &[RoutePath::Remote(ip("198.18.0.2"))],
            Some(9),
        )
        .unwrap();
        let m = new_route(&r);
        assert_eq!(m.header.address_family, AddressFamily::Inet6);
        assert!(m
            .attributes
            .contains(&RouteAttribute::Gateway(RouteAddress::Inet6(
                "::ffff:198.18.0.2".parse().unwrap()
            ))));
        let r = route_request(
            MAIN_TABLE,
            prefix("192.0.2.0/24"),
            &[RoutePath::Remote(ip("2001:db8::2"))],
            Some(9),
        )
        .unwrap();
        let m = new_route(&r);
        assert!(m.attributes.contains(&RouteAttribute::Via(RouteVia::Inet6(
            "2001:db8::2".parse().unwrap()
        ))));
    }

    #[test]
    fn several_paths_form_one_multipath_route_and_none_deletes_it() {
        let p = prefix("203.0.113.0/24");
        let r = route_request(
            MAIN_TABLE,
            p,
            &[
                RoutePath::Remote(ip("198.18.0.2")),
                RoutePath::Remote(ip("198.18.0.3")),
                RoutePath::Gateway(ip("192.0.2.20")),
            ],
            Some(9),
        )
        .unwrap();
        let m = new_route(&r);
        let hops = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::MultiPath(h) => Some(h.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(hops.len(), 3);
        assert_eq!(hops[0].interface_index, 9);
        assert!(hops[0].flags.contains(RouteNextHopFlags::Onlink));
        assert_eq!(
            hops[1].attributes,
            vec![RouteAttribute::Gateway(RouteAddress::Inet(
                "198.18.0.3".parse().unwrap()
            ))]
        );
        // The gateway path is resolved by the kernel: no device, not onlink.
        assert_eq!(hops[2].interface_index, 0);
        assert!(hops[2].flags.is_empty());
        let d = route_request(MAIN_TABLE, p, &[], Some(9)).unwrap();
        let RouteNetlinkMessage::DelRoute(m) = roundtrip(&d.message) else {
            panic!()
        };
        assert_eq!(m.header.destination_prefix_length, 24);
        assert_eq!(u8::from(m.header.protocol), EVPND_ROUTE_PROTOCOL);
    }

    #[test]
    fn a_remote_path_without_l3vni_devices_is_refused() {
        let e = route_request(
            MAIN_TABLE,
            prefix("198.51.100.0/24"),
            &[RoutePath::Remote(ip("198.18.0.2"))],
            None,
        )
        .unwrap_err();
        assert!(e.contains("L3VNI"), "{e}");
        assert!(route_request(
            MAIN_TABLE,
            prefix("2001:db8::/64"),
            &[RoutePath::Gateway(ip("192.0.2.1"))],
            None
        )
        .is_err());
    }

    /// The VRF-device model: the device carries its table, bridges are enslaved to it and
    /// routes name the table (`RTA_TABLE`, the header's byte when it fits).
    #[test]
    fn vrf_device_model_messages() {
        let (m, flags) = create_vrf("red", 5000);
        assert_eq!(flags, NLM_F_CREATE | NLM_F_EXCL);
        let RouteNetlinkMessage::NewLink(l) = roundtrip(&m) else {
            panic!()
        };
        let link = Link::parse(&l);
        assert_eq!(link.name, "red");
        assert_eq!(link.kind, Some(InfoKind::Vrf));
        assert_eq!(vrf_table(&l), Some(5000));
        let RouteNetlinkMessage::SetLink(l) = roundtrip(&set_master(12, 40)) else {
            panic!()
        };
        assert_eq!(Link::parse(&l).master, Some(40));
        let r = route_request(
            5000,
            prefix("198.51.100.0/24"),
            &[RoutePath::Remote(ip("198.18.0.2"))],
            Some(9),
        )
        .unwrap();
        let m = new_route(&r);
        assert_eq!(m.header.table, RouteHeader::RT_TABLE_UNSPEC);
        assert!(m.attributes.contains(&RouteAttribute::Table(5000)));
        let r = route_request(
            100,
            prefix("198.51.100.0/24"),
            &[RoutePath::Gateway(ip("192.0.2.20"))],
            None,
        )
        .unwrap();
        assert_eq!(new_route(&r).header.table, 100);
    }

    #[test]
    fn our_dumped_routes_are_recognised_by_protocol_and_table() {
        let p = prefix("198.51.100.0/24");
        let r = route_request(5000, p, &[RoutePath::Remote(ip("198.18.0.2"))], Some(9)).unwrap();
        let m = new_route(&r);
        assert_eq!(ours(&m, 5000), Some(p));
        assert_eq!(ours(&m, 254), None);
        let mut foreign = m.clone();
        foreign.header.protocol = RouteProtocol::Static;
        assert_eq!(ours(&foreign, 5000), None);
    }

    #[test]
    fn default_tables_follow_the_l3vni_or_a_stable_name_hash() {
        assert_eq!(default_table("red", Some(5000)), 5000);
        let t = default_table("blue", None);
        assert_eq!(t, default_table("blue", None));
        assert_ne!(t, default_table("green", None));
        assert!((0x1000_0000..=0x1fff_ffff).contains(&t));
    }

    #[test]
    fn gateway_addresses_skip_dad_for_ipv6_and_macs_and_moves_encode() {
        let r = address(5, ip("2001:db8:100::1"), 64, true);
        let RouteNetlinkMessage::NewAddress(a) = roundtrip(&r.message) else {
            panic!()
        };
        assert_eq!(a.header.prefix_len, 64);
        assert_eq!(a.header.index, 5);
        assert!(a
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
        let r = address(5, ip("192.0.2.254"), 24, false);
        let RouteNetlinkMessage::DelAddress(a) = roundtrip(&r.message) else {
            panic!()
        };
        assert!(a
            .attributes
            .contains(&AddressAttribute::Local(ip("192.0.2.254"))));
        let RouteNetlinkMessage::SetLink(l) =
            roundtrip(&set_mac(5, MacAddress([2, 0, 0, 0, 0, 1])))
        else {
            panic!()
        };
        assert!(l
            .attributes
            .contains(&LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1])));
        let RouteNetlinkMessage::SetLink(l) = roundtrip(&move_to_netns(5, 7)) else {
            panic!()
        };
        assert!(l.attributes.contains(&LinkAttribute::NetNsFd(7)));
        assert_eq!(mapped(ip("198.18.0.2")), ip("::ffff:198.18.0.2"));
    }
}
