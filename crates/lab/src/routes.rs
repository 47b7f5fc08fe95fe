//! Distinct EVPN routes for load tests, and their pre-encoded UPDATEs.
//!
//! Every generator number gives a disjoint set of route keys, so routes from several
//! generators never collide in a receiver's table. Addresses follow the project's test
//! conventions: VTEPs in 198.18.0.0/15, tenant addresses in 198.51.100.0/24 and
//! 203.0.113.0/24, locally administered MACs 02:…

use crate::error::{LabError, Result};
use evpnd_wire::{
    AsPath, CodecContext, Esi, EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family,
    InclusiveMulticastRoute, IpPrefixRoute, Label, MacAddress, MacIpRoute, NextHop, Nlri, Origin,
    PathAttribute, PmsiTunnel, Route, RouteDistinguisher, RouteTarget, UpdatePacker,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The L2VNI of generated MAC/IP and inclusive multicast routes.
pub const L2_VNI: u32 = 100;
/// The L3VNI of generated IP prefix routes.
pub const L3_VNI: u32 = 1000;
/// The route target attached to every generated route (2-octet AS form, 65000:100).
pub const ROUTE_TARGET: RouteTarget = RouteTarget::As2 {
    asn: 65000,
    value: L2_VNI,
};
/// Most routes one generator can produce with distinct keys (type-5 keys use 24 bits).
pub const MAX_ROUTES: usize = 1 << 24;

/// The kinds of EVPN routes the generator produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Type 2 with a MAC only (RFC 7432 §7.2): what a VTEP learns from the data plane.
    Mac,
    /// Type 2 with MAC and IPv4 address (ARP suppression / symmetric IRB hosts). The IPv4
    /// addresses come from one /24 (198.51.100.0/24), so beyond 256 routes MACs share them.
    MacIp,
    /// Type 2 with MAC and an IPv6 address of its own (2001:db8:0:<generator>::/64, RFC 3849):
    /// ND suppression at scale, one binding per MAC, however many routes.
    MacIp6,
    /// Type 3, inclusive multicast with a PMSI ingress-replication tunnel (RFC 8365 §9).
    Multicast,
    /// Type 5, IPv4 /32 prefix with a router's MAC (RFC 9136 §3, RFC 9135 §8.1).
    Prefix,
}

impl RouteKind {
    /// Every kind, for help texts and tests.
    pub const ALL: [RouteKind; 5] = [
        RouteKind::Mac,
        RouteKind::MacIp,
        RouteKind::MacIp6,
        RouteKind::Multicast,
        RouteKind::Prefix,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Mac => "mac",
            RouteKind::MacIp => "mac-ip",
            RouteKind::MacIp6 => "mac-ip6",
            RouteKind::Multicast => "multicast",
            RouteKind::Prefix => "prefix",
        }
    }
}

impl FromStr for RouteKind {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Self> {
        RouteKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                LabError::new(format!(
                    "unknown route kind {s:?} (one of mac, mac-ip, mac-ip6, multicast, prefix)"
                ))
            })
    }
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn label(vni: u32) -> Label {
    // Both VNIs are constants below 2^24.
    Label::from_vni(vni).unwrap_or(Label::from_raw(0))
}

/// `count` routes of `kind` for generator number `generator` whose VTEP is `vtep`. Keys are
/// distinct within the set and across generator numbers.
pub fn generate(kind: RouteKind, count: usize, generator: u8, vtep: Ipv4Addr) -> Result<Vec<Nlri>> {
    if count > MAX_ROUTES {
        return Err(LabError::new(format!(
            "at most {MAX_ROUTES} routes per generator"
        )));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count as u32 {
        let b = i.to_be_bytes();
        let mac = MacAddress([0x02, generator, b[0], b[1], b[2], b[3]]);
        let r = match kind {
            RouteKind::Mac | RouteKind::MacIp | RouteKind::MacIp6 => EvpnRoute::MacIp(MacIpRoute {
                rd: RouteDistinguisher::ipv4(vtep, L2_VNI as u16),
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac,
                ip: match kind {
                    RouteKind::MacIp => Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, b[3]))),
                    RouteKind::MacIp6 => Some(IpAddr::V6(Ipv6Addr::from(
                        (0x2001_0db8_u128 << 96) | (u128::from(generator) << 64) | u128::from(i),
                    ))),
                    _ => None,
                },
                label1: label(L2_VNI),
                label2: None,
            }),
            // The key of a type-3 route is RD, Ethernet tag and originator (RFC 7432 §7.3).
            RouteKind::Multicast => EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd: RouteDistinguisher::ipv4(vtep, (i & 0xffff) as u16),
                ethernet_tag: i >> 16,
                originator: IpAddr::V4(vtep),
            }),
            // The key of a type-5 route is RD, Ethernet tag, prefix length and prefix
            // (RFC 9136 §3.2).
            RouteKind::Prefix => EvpnRoute::IpPrefix(IpPrefixRoute {
                rd: RouteDistinguisher::ipv4(vtep, (i >> 8) as u16),
                esi: Esi::ZERO,
                ethernet_tag: 0,
                prefix_len: 32,
                prefix: IpAddr::V4(Ipv4Addr::new(203, 0, 113, b[3])),
                gateway: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                label: label(L3_VNI),
            }),
        };
        out.push(Nlri::new(Route::Evpn(r)));
    }
    Ok(out)
}

/// The first 36 bits of the IPv6 prefixes of [`vrf_prefixes`]: `2001:db8:a000::/36` (RFC 3849
/// documentation space, the project's tenant IPv6 range).
pub const VRF_PREFIX_BASE: [u16; 3] = [0x2001, 0x0db8, 0xa000];

/// `count` type-5 routes (RFC 9136 §3) with distinct IPv6 /128 prefixes
/// `2001:db8:aGGG:IIII::` inside `2001:db8:a000::/36` (G from the generator and the index's
/// high bits, I its low 16 bits), label [`L3_VNI`], RD `vtep:L3_VNI`, no gateway: as many
/// distinct routes for a VRF's kernel table as asked (the tenant IPv4 ranges hold only a few
/// hundred prefixes), of the same length as the route floor's (`route_floor --family 6`).
/// Encode them with [`encode_announcements`] and [`RouteKind::Prefix`].
pub fn vrf_prefixes(count: usize, generator: u8, vtep: Ipv4Addr) -> Result<Vec<Nlri>> {
    // 12 bits above the low 16: the generator's 4 low bits and the index's bits 16..24.
    if count > 1 << 24 {
        return Err(LabError::new("at most 2^24 VRF prefixes per generator"));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count as u32 {
        let high = (u16::from(generator & 0x0f) << 8) | ((i >> 16) as u16 & 0xff);
        let prefix = std::net::Ipv6Addr::new(
            VRF_PREFIX_BASE[0],
            VRF_PREFIX_BASE[1],
            VRF_PREFIX_BASE[2] | high,
            (i & 0xffff) as u16,
            0,
            0,
            0,
            0,
        );
        out.push(Nlri::new(Route::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
            rd: RouteDistinguisher::ipv4(vtep, L3_VNI as u16),
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix_len: 128,
            prefix: IpAddr::V6(prefix),
            gateway: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            label: label(L3_VNI),
        }))));
    }
    Ok(out)
}

/// The next hop (the VTEP) and path attributes a VTEP in `local_as` attaches to routes of
/// `kind` on a session with context `ctx`: ORIGIN IGP, AS_PATH (empty on iBGP, `local_as` on
/// eBGP), LOCAL_PREF 100 on iBGP (RFC 4271 §5.1.5), the route target and the VXLAN
/// encapsulation community (RFC 8365 §5.1.3), plus the router's MAC for type 5 and a PMSI
/// ingress-replication tunnel for type 3.
pub fn origination(
    kind: RouteKind,
    vtep: Ipv4Addr,
    local_as: u32,
    ctx: &CodecContext,
) -> (NextHop, Vec<PathAttribute>) {
    let mut attrs = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(if ctx.external_peer {
            AsPath::sequence(vec![local_as])
        } else {
            AsPath::default()
        }),
    ];
    if !ctx.external_peer {
        attrs.push(PathAttribute::LocalPref(100));
    }
    let mut comms = vec![
        ExtendedCommunity::route_target(ROUTE_TARGET),
        ExtendedCommunity::vxlan_encapsulation(),
    ];
    if kind == RouteKind::Prefix {
        let o = vtep.octets();
        comms.push(ExtendedCommunity::new(ExtCommunityKind::RouterMac(
            MacAddress([0x02, 0, o[0], o[1], o[2], o[3]]),
        )));
    }
    attrs.push(PathAttribute::ExtendedCommunities(comms));
    if kind == RouteKind::Multicast {
        attrs.push(PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(
            IpAddr::V4(vtep),
            label(L2_VNI),
        )));
    }
    (NextHop::Ipv4(vtep), attrs)
}

/// Pre-encodes UPDATEs announcing `routes` (all of `kind`) as originated by `vtep` in
/// `local_as`, packed into messages of at most the session's size (4 KiB without the extended
/// message capability). Returns the bytes and the number of messages.
pub fn encode_announcements(
    ctx: &CodecContext,
    kind: RouteKind,
    routes: &[Nlri],
    vtep: Ipv4Addr,
    local_as: u32,
) -> Result<(Vec<u8>, usize)> {
    let (nh, attrs) = origination(kind, vtep, local_as, ctx);
    let mut out = Vec::new();
    let n = UpdatePacker::new(ctx)
        .announce(
            Family::L2VPN_EVPN,
            &nh,
            &attrs,
            Default::default(),
            routes,
            &mut out,
        )
        .map_err(|e| LabError::new(format!("packing UPDATEs: {e}")))?;
    Ok((out, n))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use evpnd_wire::{decode_all, Message};
    use std::collections::HashSet;

    #[test]
    fn keys_are_distinct_within_and_across_generators() {
        for kind in RouteKind::ALL {
            let a = generate(kind, 70_000, 1, Ipv4Addr::new(198, 19, 0, 1)).unwrap();
            let b = generate(kind, 1000, 2, Ipv4Addr::new(198, 19, 0, 2)).unwrap();
            let set: HashSet<_> = a.iter().chain(b.iter()).collect();
            assert_eq!(set.len(), 71_000, "{kind}");
        }
    }

    #[test]
    fn packed_updates_decode_to_exactly_the_routes() {
        let ctx = CodecContext::default();
        for kind in RouteKind::ALL {
            let vtep = Ipv4Addr::new(198, 19, 0, 7);
            let routes = generate(kind, 3000, 7, vtep).unwrap();
            let (bytes, n) = encode_announcements(&ctx, kind, &routes, vtep, 65000).unwrap();
            let (msgs, err) = decode_all(&ctx, &bytes);
            assert!(err.is_none(), "{kind}: {err:?}");
            assert_eq!(msgs.len(), n);
            let mut got = Vec::new();
            for d in msgs {
                // RFC 4271 §4.1: no message exceeds 4096 bytes without extended messages.
                assert!(d.length <= 4096);
                let Message::Update(u) = d.message else {
                    panic!("not an UPDATE")
                };
                let mp = u.mp_reach.unwrap();
                assert_eq!(mp.next_hop, NextHop::Ipv4(vtep));
                got.extend(mp.nlri);
            }
            assert_eq!(got, routes, "{kind}");
        }
    }

    #[test]
    fn vrf_prefixes_are_distinct_ipv6_128s_that_encode() {
        let vtep = Ipv4Addr::new(198, 19, 1, 1);
        let a = vrf_prefixes(70_000, 1, vtep).unwrap();
        let b = vrf_prefixes(1000, 2, vtep).unwrap();
        let set: HashSet<_> = a.iter().chain(b.iter()).collect();
        assert_eq!(set.len(), 71_000);
        let Route::Evpn(EvpnRoute::IpPrefix(p)) = &a[65_537].route else {
            panic!("not a type-5 route")
        };
        assert_eq!(p.prefix.to_string(), "2001:db8:a101:1::");
        assert_eq!((p.prefix_len, p.label.vni()), (128, L3_VNI));
        let ctx = CodecContext::default();
        let (bytes, _) =
            encode_announcements(&ctx, RouteKind::Prefix, &a[..3000], vtep, 65000).unwrap();
        let (msgs, err) = decode_all(&ctx, &bytes);
        assert!(err.is_none(), "{err:?}");
        let n: usize = msgs
            .into_iter()
            .map(|d| match d.message {
                Message::Update(u) => u.mp_reach.map_or(0, |m| m.nlri.len()),
                _ => 0,
            })
            .sum();
        assert_eq!(n, 3000);
    }

    #[test]
    fn kinds_parse_from_their_names() {
        for k in RouteKind::ALL {
            assert_eq!(k.name().parse::<RouteKind>().unwrap(), k);
        }
        assert!("type9".parse::<RouteKind>().is_err());
    }
}
