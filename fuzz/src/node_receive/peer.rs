//! What the peer sends: its OPEN, KEEPALIVEs, a malformed UPDATE, and the UPDATEs of a small
//! generator of valid EVPN, RT-Constraint and unicast routes, encoded in the negotiated
//! context.

use super::{pool_mac, pool_vtep, vni_of, Setup, FAMILIES, PEER_ID};
use evpnd_evpn::auto_route_target;
use evpnd_wire::capability::{GracefulRestart, GracefulRestartFamily};
use evpnd_wire::types::AS_TRANS;
use evpnd_wire::{
    encode_message, AsPath, Capability, CodecContext, EvpnRoute, ExtCommunityKind,
    ExtendedCommunity, Family, InclusiveMulticastRoute, IpPrefix, Label, MacIpRoute, Message,
    MpReach, MpUnreach, NextHop, Nlri, Open, Origin, PathAttribute, PmsiTunnel, Route,
    RouteDistinguisher, RouteTarget, RtMembership, Update,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Setup {
    /// The peer's OPEN (RFC 4271 §4.2) with its capabilities (RFC 5492).
    pub fn peer_open(&self) -> Vec<u8> {
        let mut caps: Vec<Capability> = self
            .peer_families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        if self.peer_route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.peer_enhanced_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        if self.peer_four_octet {
            caps.push(Capability::FourOctetAs(self.peer_asn));
        }
        if self.peer_extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if !self.peer_add_path.is_empty() {
            caps.push(Capability::AddPath(self.peer_add_path.clone()));
        }
        if let Some(r) = self.peer_role {
            caps.push(Capability::Role(r));
        }
        if self.graceful_restart {
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: false,
                restart_time: 120,
                families: self
                    .negotiated_families()
                    .into_iter()
                    .map(|family| GracefulRestartFamily {
                        family,
                        forwarding_preserved: true,
                    })
                    .collect(),
            }));
        }
        let open = Open {
            my_as: u16::try_from(self.peer_asn).unwrap_or(AS_TRANS),
            hold_time: self.peer_hold_time,
            bgp_id: PEER_ID,
            capabilities: caps,
        };
        encode(&CodecContext::default(), &Message::Open(open))
    }

    /// An UPDATE of the generator, encoded with the peer's context, from 4 parameter bytes:
    ///
    /// * `p[0]`: bits 0-2 the kind (0 type-2 MAC, 1 type-2 MAC+IPv4, 2 type-2 MAC+IPv6,
    ///   3 type-3, 4 RT-Constraint membership, 5 IPv4 unicast, 6 IPv6 unicast, 7 End-of-RIB of
    ///   the family `p[1]` & 3 of [`FAMILIES`]); bit 3 withdraw; bit 4 a route target no EVI
    ///   imports; bit 5 sticky; bit 6 a MAC mobility community; bit 7 an IPv6 next hop;
    /// * `p[1]`: bits 0-1 the VNI (100, 200, 300, 100); bits 2-4 the MAC of the pool;
    /// * `p[2]`: bits 0-1 the VTEP ([`pool_vtep`]); bit 2 one shared RD instead of VTEP:VNI;
    ///   bits 3-5 the path identifier - 1 (when ADD-PATH is negotiated);
    /// * `p[3]`: the MAC mobility sequence number; for unicast routes, bit 0 an
    ///   Only-to-Customer attribute (RFC 9234 §5) with the peer's AS (bit 1) or another.
    pub fn generated_update(&self, p: [u8; 4]) -> Vec<u8> {
        let ctx = self.rx_context();
        let kind = p[0] & 7;
        let withdraw = p[0] & 8 != 0;
        let vni = [100, 200, 300, 100][usize::from(p[1] & 3)];
        let n = (p[1] >> 2) & 7;
        let mac = pool_mac(n);
        let vtep4 = pool_vtep(p[2]);
        let vtep = if p[0] & 0x80 != 0 {
            let o = vtep4.octets();
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0xffff,
                0,
                0,
                0,
                0,
                u16::from(o[3]),
            ))
        } else {
            IpAddr::V4(vtep4)
        };
        let rd = if p[2] & 4 != 0 {
            RouteDistinguisher::ipv4(Ipv4Addr::new(198, 19, 0, 2), 1)
        } else {
            RouteDistinguisher::ipv4(vtep4, vni as u16)
        };
        let rt = if p[0] & 0x10 != 0 {
            RouteTarget::As2 {
                asn: 65500,
                value: 999,
            }
        } else {
            auto_route_target(self.local_asn, vni_of(vni))
        };
        let path_id = 1 + u32::from((p[2] >> 3) & 7);
        let nlri = |family: Family, route: Route| Nlri {
            path_id: ctx.has_path_id(family).then_some(path_id),
            route,
        };
        let label = Label::from_vni(vni).unwrap_or(Label::from_raw(0));
        let (family, route) = match kind {
            0..=2 => {
                let ip = match kind {
                    1 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n + 1))),
                    2 => Some(IpAddr::V6(Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        0,
                        0,
                        0,
                        0,
                        0,
                        u16::from(n) + 1,
                    ))),
                    _ => None,
                };
                (
                    Family::L2VPN_EVPN,
                    Route::Evpn(EvpnRoute::MacIp(MacIpRoute {
                        rd,
                        esi: evpnd_wire::Esi::ZERO,
                        ethernet_tag: 0,
                        mac,
                        ip,
                        label1: label,
                        label2: None,
                    })),
                )
            }
            3 => (
                Family::L2VPN_EVPN,
                Route::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                    rd,
                    ethernet_tag: 0,
                    originator: vtep,
                })),
            ),
            4 => (
                Family::RT_CONSTRAINT,
                Route::RtConstraint(RtMembership::exact(
                    self.peer_asn,
                    ExtendedCommunity::route_target(rt).0,
                )),
            ),
            5 => (
                Family::IPV4_UNICAST,
                Route::Ipv4(ip_prefix(IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)), 32)),
            ),
            6 => (
                Family::IPV6_UNICAST,
                Route::Ipv6(ip_prefix(
                    IpAddr::V6(Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        0x113,
                        0,
                        0,
                        0,
                        0,
                        u16::from(n),
                    )),
                    128,
                )),
            ),
            _ => {
                let f = FAMILIES[usize::from(p[1] & 3)];
                return encode(&ctx, &Message::Update(Update::end_of_rib(f)));
            }
        };
        let mut u = Update::default();
        let routes = vec![nlri(family, route)];
        if withdraw {
            if family == Family::IPV4_UNICAST {
                u.withdrawn = routes;
            } else {
                u.mp_unreach = Some(MpUnreach::new(family, routes));
            }
            return encode(&ctx, &Message::Update(u));
        }
        u.attributes.push(PathAttribute::Origin(Origin::Igp));
        u.attributes.push(PathAttribute::AsPath(if self.ebgp {
            AsPath::sequence(vec![self.peer_asn])
        } else {
            AsPath::default()
        }));
        if !self.ebgp {
            u.attributes.push(PathAttribute::LocalPref(100));
        }
        let next_hop = match (family, vtep) {
            (Family::RT_CONSTRAINT, _) => NextHop::Ipv4(PEER_ID),
            (Family::IPV6_UNICAST, IpAddr::V4(_)) => NextHop::Ipv6 {
                global: Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 2),
                link_local: None,
            },
            (_, ip) => NextHop::from_ip(ip),
        };
        if family == Family::L2VPN_EVPN {
            let mut ext = vec![
                ExtendedCommunity::route_target(rt),
                ExtendedCommunity::vxlan_encapsulation(),
            ];
            if p[0] & 0x40 != 0 {
                ext.push(ExtendedCommunity::new(ExtCommunityKind::MacMobility {
                    sequence: u32::from(p[3]),
                    sticky: p[0] & 0x20 != 0,
                }));
            }
            u.attributes.push(PathAttribute::ExtendedCommunities(ext));
            if kind == 3 {
                u.attributes
                    .push(PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(
                        vtep, label,
                    )));
            }
        }
        let unicast = family == Family::IPV4_UNICAST || family == Family::IPV6_UNICAST;
        if unicast && p[3] & 1 != 0 {
            let otc = if p[3] & 2 != 0 { self.peer_asn } else { 65500 };
            u.attributes.push(PathAttribute::OnlyToCustomer(otc));
        }
        if family == Family::IPV4_UNICAST {
            match next_hop {
                NextHop::Ipv4(a) => u.attributes.push(PathAttribute::NextHop(a)),
                _ => u.attributes.push(PathAttribute::NextHop(PEER_ID)),
            }
            u.nlri = routes;
        } else {
            u.mp_reach = Some(MpReach::new(family, next_hop, routes));
        }
        encode(&ctx, &Message::Update(u))
    }
}

/// The prefix `addr/len` of the generator (only valid ones are built).
pub(super) fn ip_prefix(addr: IpAddr, len: u8) -> IpPrefix {
    IpPrefix::new(addr, len).unwrap_or_else(|| panic!("harness prefix {addr}/{len}"))
}

/// Encodes a message the harness built; the harness only builds encodable ones.
fn encode(ctx: &CodecContext, m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = encode_message(ctx, m, &mut out) {
        panic!("harness message does not encode: {e}: {m:?}");
    }
    out
}

/// A KEEPALIVE (RFC 4271 §4.4).
pub fn keepalive() -> Vec<u8> {
    encode(&CodecContext::default(), &Message::Keepalive)
}

/// An UPDATE whose withdrawn-routes length runs past the message: a session reset with
/// UPDATE Message Error / Malformed Attribute List (RFC 4271 §6.3, RFC 7606 §4).
pub fn malformed_update() -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 27, 2, 0, 40, 0, 0, 24, 192, 0, 2]);
    m
}
