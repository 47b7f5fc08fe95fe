//! The whole receive path of one router (`evpnd_node::Node`: session FSM, RIB, EVPN engine and
//! data plane together) under arbitrary bytes from an established neighbour.
//!
//! An input is a [`Setup`] (the first [`SETUP_LEN`] bytes, one byte per field, see
//! [`Setup::from_bytes`]) followed by a stream of operations ([`Op`]): raw bytes from the peer
//! split where the fuzzer likes, time passing, UPDATEs from a small generator of valid EVPN,
//! RT-Constraint and unicast routes, the peer closing and reconnecting, and local MACs coming
//! and going. [`run`] builds the node, brings the session to Established with a valid OPEN and
//! KEEPALIVE (asserted), plays the operations and after each one drains every output and checks
//! the invariants ([`Harness::check`]):
//!
//! * every data-plane intent applies cleanly to a `MemoryDataplane`, and its tables equal
//!   `Node::expected_dataplane`;
//! * every remote MAC of the engine is backed by a best type-2 path of the Loc-RIB for that MAC
//!   and VNI whose next hop is that VTEP (unless frozen as a duplicate, RFC 7432 §15.1), and
//!   every remote flood entry by a best type-3 path;
//!   every imported best type-2 path from the peer has a MAC entry;
//! * while the session is not Established, the peer's paths are all stale (graceful restart,
//!   RFC 4724 §4.2) or gone;
//! * every message we send decodes, accepted, with the peer's codec context;
//! * the bytes received are framed and decoded alongside the session by a shadow decoder: a
//!   message the codec refuses (or an OPEN, or a NOTIFICATION) must end the connection, with a
//!   NOTIFICATION of ours unless the peer sent one (RFC 4271 §6); and a connection never ends
//!   on received bytes the shadow found nothing wrong with (except a prefix limit, RFC 4486);
//! * a session that goes down went down with its connection closed.

use arbitrary::Unstructured;
use evpnd_bgp::config::{GracefulRestartConfig, MaxPrefix};
use evpnd_bgp::rib::{Path, RouteSource};
use evpnd_bgp::role::corresponding_role;
use evpnd_bgp::PeerId;
use evpnd_dataplane::{Dataplane, MemoryDataplane};
use evpnd_evpn::{
    auto_route_target, Attachment, DuplicateState, EngineConfig, EviConfig, Location,
};
use evpnd_node::{
    ConnId, DataplaneFeedback, EvpnConfig, Input, NeighborConfig, Node, NodeConfig, NodeEvent,
    Output,
};
use evpnd_wire::capability::{
    AddPathFamily, AddPathMode, BgpRole, GracefulRestart, GracefulRestartFamily,
};
use evpnd_wire::types::AS_TRANS;
use evpnd_wire::{
    decode_all, decode_message, encode_message, frame_length, AsPath, Capability, CodecContext,
    DecodeError, EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family, InclusiveMulticastRoute,
    IpPrefix, Label, MacAddress, MacIpRoute, Message, MpReach, MpUnreach, NextHop, Nlri, Open,
    Origin, Outcome, PathAttribute, PmsiTunnel, Route, RouteDistinguisher, RouteTarget,
    RtMembership, Update, Vni,
};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Bytes of the [`Setup`] at the front of every input.
pub const SETUP_LEN: usize = 13;

/// The families of the bit masks of [`Setup::from_bytes`], bit 0 first.
pub const FAMILIES: [Family; 4] = [
    Family::L2VPN_EVPN,
    Family::RT_CONSTRAINT,
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
];

/// Our BGP identifier (and the router id of the auto-derived RDs).
pub const OUR_ID: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The neighbour's address and BGP identifier.
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Our VTEP.
pub const OUR_VTEP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The VNIs of the EVIs, in order (the generator also names 300, which has no EVI).
pub const VNIS: [u32; 2] = [100, 200];

/// Hold times the peer may propose (RFC 4271 §4.2: 0 or at least 3).
const HOLD_TIMES: [u16; 5] = [90, 0, 3, 9, 240];

/// Most rounds of draining per operation (each round feeds the node back what it asked for).
const MAX_DRAIN_ROUNDS: usize = 64;

/// Most timers run by one time step (a livelock guard).
const MAX_TIMERS_PER_STEP: usize = 256;

/// MAC `n` of the small pool shared by local endpoints and generated routes.
pub fn pool_mac(n: u8) -> MacAddress {
    MacAddress([0x02, 0, 0, 0, 0, 1 + (n & 7)])
}

/// The VTEP the generator names with `n` (index 2 is our own).
pub fn pool_vtep(n: u8) -> Ipv4Addr {
    [
        Ipv4Addr::new(198, 19, 0, 2),
        Ipv4Addr::new(198, 19, 0, 3),
        OUR_VTEP,
        Ipv4Addr::new(198, 19, 0, 4),
    ][usize::from(n & 3)]
}

/// The families of [`FAMILIES`] whose bit is set in `bits`.
fn mask(bits: u8) -> Vec<Family> {
    FAMILIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| *f)
        .collect()
}

/// The session context and the router around it, decoded from the first [`SETUP_LEN`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// eBGP (peer AS differs from ours).
    pub ebgp: bool,
    /// Our AS.
    pub local_asn: u32,
    /// The peer's AS.
    pub peer_asn: u32,
    /// The peer's OPEN carries the 4-octet AS capability (RFC 6793); a 2-octet session when not.
    pub peer_four_octet: bool,
    /// Families we configure (multiprotocol capability, RFC 4760 §8).
    pub our_families: Vec<Family>,
    /// Families the peer announces; empty: no multiprotocol capability at all (IPv4 implied).
    pub peer_families: Vec<Family>,
    /// Our `add_path_receive` (RFC 7911).
    pub add_path_receive: Vec<Family>,
    /// The peer's ADD-PATH capability entries.
    pub peer_add_path: Vec<AddPathFamily>,
    /// The neighbour is a route-reflector client (iBGP only, RFC 4456).
    pub rr_client: bool,
    /// Graceful restart configured on our side and announced by the peer (RFC 4724).
    pub graceful_restart: bool,
    /// The peer announces extended messages (RFC 8654).
    pub peer_extended_message: bool,
    /// The peer announces route refresh (RFC 2918).
    pub peer_route_refresh: bool,
    /// The peer announces enhanced route refresh (RFC 7313).
    pub peer_enhanced_refresh: bool,
    /// The driver never reports our bytes written (the send hold timer runs, RFC 9687).
    pub slow_reader: bool,
    /// A prefix limit of 6 EVPN routes (RFC 4486), restarting after 30 s.
    pub max_prefix: bool,
    /// The hold time the peer proposes.
    pub peer_hold_time: u16,
    /// EVIs of the engine (0: no engine).
    pub vnis: usize,
    /// Local endpoints at start.
    pub endpoints: Vec<Attachment>,
    /// Our BGP Role (RFC 9234 §3.1; eBGP only).
    pub role: Option<BgpRole>,
    /// The peer announces the role corresponding to ours (RFC 9234 §4.2).
    pub peer_role: Option<BgpRole>,
    /// Strict mode (RFC 9234 §4.2); only set when the peer announces its role.
    pub strict_role: bool,
}

impl Setup {
    /// Decodes the setup; every byte string is a valid setup (only some bits count):
    ///
    /// | byte | meaning |
    /// | --- | --- |
    /// | 0 | bit 0: eBGP |
    /// | 1 | bit 0: our AS is 4-octet (4200000001, else 65001) |
    /// | 2 | bit 0: the peer's OPEN carries the 4-octet AS capability; bit 1: with it, an eBGP peer's AS is 4-octet (4200000002, else 65002) |
    /// | 3 | our families, a mask of [`FAMILIES`] (0: EVPN) |
    /// | 4 | the peer's families, a mask of [`FAMILIES`]; bit 4: no multiprotocol capability (IPv4 implied). A family in common is added if there is none |
    /// | 5 | our `add_path_receive`, a mask of [`FAMILIES`] |
    /// | 6 | the peer's ADD-PATH mode per family of [`FAMILIES`], 2 bits each from bit 0 (0 none, 1 receive, 2 send, 3 both) |
    /// | 7 | bit 0: RR client (iBGP only); 1: graceful restart; 2: extended messages; 3: route refresh; 4: enhanced route refresh; 5: slow reader; 6: EVPN prefix limit |
    /// | 8 | the peer's hold time: index into 90, 0, 3, 9, 240 (modulo) |
    /// | 9 | EVIs: 0, 1 (VNI 100) or 2 (and 200), modulo 3 |
    /// | 10 | local endpoints at start: 0 to 3 (modulo 4); endpoint i has MAC i of the pool, IP 192.0.2.(i+1) when bit 2+i of byte 11 |
    /// | 11 | bits 0-1: endpoint i is sticky when bit i; bits 2-4: with an IP; bit 5: endpoints in VNI 200 when configured |
    /// | 12 | bits 0-2: our BGP Role on an eBGP session (RFC 9234; 1-5: provider, RS, RS-client, customer, peer; else none); bit 3: the peer announces the corresponding role; bit 4: strict mode (only with the peer's role) |
    pub fn from_bytes(b: &[u8; SETUP_LEN]) -> Setup {
        let bit = |byte: usize, n: u8| b[byte] & (1 << n) != 0;
        let ebgp = bit(0, 0);
        let peer_four_octet = bit(2, 0);
        // Without the 4-octet capability the peer's AS must fit in 2 octets (RFC 6793 §4.1);
        // on iBGP it is ours, so ours must fit too.
        let local_asn = if bit(1, 0) && (ebgp || peer_four_octet) {
            4_200_000_001
        } else {
            65001
        };
        let peer_asn = if !ebgp {
            local_asn
        } else if peer_four_octet && bit(2, 1) {
            4_200_000_002
        } else {
            65002
        };
        let mut our_families = mask(b[3]);
        if our_families.is_empty() {
            our_families.push(Family::L2VPN_EVPN);
        }
        let no_mp = bit(4, 4);
        let mut peer_families = if no_mp { Vec::new() } else { mask(b[4]) };
        let implied = if peer_families.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            peer_families.clone()
        };
        if !our_families.iter().any(|f| implied.contains(f)) {
            if no_mp {
                our_families.push(Family::IPV4_UNICAST);
            } else {
                peer_families.push(our_families[0]);
            }
        }
        let add_path_receive = mask(b[5]);
        let peer_add_path = FAMILIES
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let mode = match (b[6] >> (2 * i)) & 3 {
                    1 => AddPathMode::Receive,
                    2 => AddPathMode::Send,
                    3 => AddPathMode::Both,
                    _ => return None,
                };
                Some(AddPathFamily { family: *f, mode })
            })
            .collect();
        let vnis = usize::from(b[9] % 3);
        let endpoints = if vnis == 0 {
            Vec::new()
        } else {
            let vni = if vnis == 2 && bit(11, 5) {
                VNIS[1]
            } else {
                VNIS[0]
            };
            (0..b[10] % 4)
                .map(|i| Attachment {
                    vni: vni_of(vni),
                    mac: pool_mac(i),
                    ip: bit(11, 2 + i).then(|| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i + 1))),
                    sticky: bit(11, i),
                    router: false,
                    static_binding: false,
                })
                .collect()
        };
        let role = match b[12] & 7 {
            r @ 1..=5 if ebgp => Some(BgpRole(r - 1)),
            _ => None,
        };
        let peer_role = role.filter(|_| bit(12, 3)).and_then(corresponding_role);
        Setup {
            ebgp,
            local_asn,
            peer_asn,
            peer_four_octet,
            our_families,
            peer_families,
            add_path_receive,
            peer_add_path,
            rr_client: bit(7, 0) && !ebgp,
            graceful_restart: bit(7, 1),
            peer_extended_message: bit(7, 2),
            peer_route_refresh: bit(7, 3),
            peer_enhanced_refresh: bit(7, 4),
            slow_reader: bit(7, 5),
            max_prefix: bit(7, 6),
            peer_hold_time: HOLD_TIMES[usize::from(b[8]) % HOLD_TIMES.len()],
            vnis,
            endpoints,
            role,
            peer_role,
            strict_role: peer_role.is_some() && bit(12, 4),
        }
    }

    /// Reads the setup from the front of `u` (missing bytes read as zero).
    pub fn take(u: &mut Unstructured<'_>) -> Setup {
        let mut b = [0u8; SETUP_LEN];
        for x in &mut b {
            *x = byte(u);
        }
        Setup::from_bytes(&b)
    }

    /// The families both sides announced, in our order (RFC 4760 §8; no multiprotocol
    /// capability counts as IPv4 unicast).
    pub fn negotiated_families(&self) -> Vec<Family> {
        let theirs = if self.peer_families.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            self.peer_families.clone()
        };
        let mut out = Vec::new();
        for f in &self.our_families {
            if theirs.contains(f) && !out.contains(f) {
                out.push(*f);
            }
        }
        out
    }

    /// The codec context of what the peer sends us (RFC 6793, RFC 8654, RFC 7911 §4): we
    /// always announce 4-octet AS and extended messages, and ADD-PATH receive for
    /// `add_path_receive`.
    pub fn rx_context(&self) -> CodecContext {
        let add_path = self
            .negotiated_families()
            .into_iter()
            .filter(|f| {
                self.add_path_receive.contains(f)
                    && self
                        .peer_add_path
                        .iter()
                        .any(|a| a.family == *f && a.mode.sends())
            })
            .collect();
        CodecContext {
            four_octet_as: self.peer_four_octet,
            extended_message: self.peer_extended_message,
            add_path,
            external_peer: self.ebgp,
        }
    }

    /// The codec context of what we send (we never announce ADD-PATH send).
    pub fn tx_context(&self) -> CodecContext {
        CodecContext {
            add_path: Vec::new(),
            ..self.rx_context()
        }
    }

    /// The router: one neighbour (the peer), and the engine when `vnis` > 0.
    pub fn node_config(&self) -> NodeConfig {
        let mut c = NodeConfig::new(self.local_asn, OUR_ID);
        let mut n = NeighborConfig::new(IpAddr::V4(PEER_ID), self.peer_asn, self.local_asn, OUR_ID);
        n.peer.families = self.our_families.clone();
        n.peer.add_path_receive = self.add_path_receive.clone();
        n.peer.route_reflector_client = self.rr_client;
        n.peer.role = self.role;
        n.peer.strict_role = self.strict_role;
        if self.graceful_restart {
            n.peer.graceful_restart = Some(GracefulRestartConfig {
                restart_time: 120,
                stale_routes_time: Duration::from_secs(360),
            });
        }
        if self.max_prefix {
            n.peer.max_prefix.push(MaxPrefix {
                family: Family::L2VPN_EVPN,
                limit: 6,
                restart_after: Some(Duration::from_secs(30)),
            });
        }
        c.neighbors.push(n);
        if self.vnis > 0 {
            c.evpn = Some(EvpnConfig {
                engine: EngineConfig::new(self.local_asn, OUR_ID, IpAddr::V4(OUR_VTEP)),
                evis: VNIS[..self.vnis]
                    .iter()
                    .map(|v| EviConfig::new(vni_of(*v)))
                    .collect(),
                endpoints: self.endpoints.clone(),
            });
        }
        c
    }

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

fn vni_of(n: u32) -> Vni {
    // Only called with the constants of this module, all valid 24-bit VNIs.
    Vni::new(n).unwrap_or_else(|_| panic!("harness VNI {n}"))
}

fn ip_prefix(addr: IpAddr, len: u8) -> IpPrefix {
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

/// One operation of the stream after the setup. Each starts with a tag byte (modulo 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// Tag 0, a length byte, then that many bytes (fewer at the end of the input) from the peer.
    Bytes(&'a [u8]),
    /// Tag 1, two length bytes (big-endian), then that many bytes from the peer.
    LongBytes(&'a [u8]),
    /// Tag 2: the rest of the input, from the peer, in one piece.
    Rest(&'a [u8]),
    /// Tag 3, one byte: time passes (bits 6-7 the unit: 100 ms, 1 s, 10 s, 60 s; bits 0-5
    /// the count) and the due timers run.
    Wait(u8),
    /// Tag 4, four bytes: an UPDATE of the generator ([`Setup::generated_update`]).
    Generated([u8; 4]),
    /// Tag 5: the peer closes the TCP connection.
    PeerCloses,
    /// Tag 6: when the connection is gone, the peer connects again and sends OPEN and
    /// KEEPALIVE.
    Reconnect,
    /// Tag 7, one byte: the data plane learns (bit 7 clear) or forgets local MAC `b & 7` of the
    /// pool in VNI 100 (bit 6 clear) or 200, with IP 192.0.2.x when bit 5.
    LocalMac(u8),
}

impl<'a> Op<'a> {
    /// The next operation of `u` (`None` at the end).
    pub fn take(u: &mut Unstructured<'a>) -> Option<Op<'a>> {
        if u.is_empty() {
            return None;
        }
        Some(match byte(u) % 8 {
            0 => {
                let n = usize::from(byte(u));
                Op::Bytes(take_bytes(u, n))
            }
            1 => {
                let n = usize::from(u16::from_be_bytes([byte(u), byte(u)]));
                Op::LongBytes(take_bytes(u, n))
            }
            2 => Op::Rest(take_bytes(u, usize::MAX)),
            3 => Op::Wait(byte(u)),
            4 => Op::Generated([byte(u), byte(u), byte(u), byte(u)]),
            5 => Op::PeerCloses,
            6 => Op::Reconnect,
            _ => Op::LocalMac(byte(u)),
        })
    }

    /// Appends the encoding of this operation to `out` (for the seed corpus).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Op::Bytes(b) => {
                out.push(0);
                out.push(u8::try_from(b.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(&b[..b.len().min(255)]);
            }
            Op::LongBytes(b) => {
                let n = b.len().min(usize::from(u16::MAX));
                out.push(1);
                out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
                out.extend_from_slice(&b[..n]);
            }
            Op::Rest(b) => {
                out.push(2);
                out.extend_from_slice(b);
            }
            Op::Wait(d) => out.extend_from_slice(&[3, *d]),
            Op::Generated(p) => {
                out.push(4);
                out.extend_from_slice(p);
            }
            Op::PeerCloses => out.push(5),
            Op::Reconnect => out.push(6),
            Op::LocalMac(b) => out.extend_from_slice(&[7, *b]),
        }
    }
}

/// The next byte of `u` (0 at the end).
fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.arbitrary::<u8>().unwrap_or(0)
}

/// The next `n` bytes of `u`, fewer at the end.
fn take_bytes<'a>(u: &mut Unstructured<'a>, n: usize) -> &'a [u8] {
    let n = n.min(u.len());
    u.bytes(n).unwrap_or(&[])
}

/// The duration of [`Op::Wait`].
pub fn wait_duration(b: u8) -> Duration {
    let count = u64::from(b & 63);
    match b >> 6 {
        0 => Duration::from_millis(100 * count),
        1 => Duration::from_secs(count),
        2 => Duration::from_secs(10 * count),
        _ => Duration::from_secs(60 * count),
    }
}

/// What the shadow decoder concluded about the bytes received on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// A message the session must answer with a NOTIFICATION and a close (RFC 4271 §6, RFC
    /// 6608): malformed, or an OPEN in Established.
    MustNotify,
    /// The peer sent a NOTIFICATION: the connection must close (RFC 4271 §6.4).
    PeerNotified,
}

/// A framing and decoding of the received stream alongside the session's.
#[derive(Debug)]
struct Shadow {
    ctx: CodecContext,
    buf: Vec<u8>,
    verdict: Option<Verdict>,
}

impl Shadow {
    fn new(ctx: CodecContext) -> Shadow {
        Shadow {
            ctx,
            buf: Vec::new(),
            verdict: None,
        }
    }

    /// Takes `bytes`; returns the verdict once reached (later bytes are not looked at).
    fn feed(&mut self, bytes: &[u8]) -> Option<Verdict> {
        if self.verdict.is_some() {
            return self.verdict;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let len = match frame_length(&self.ctx, &self.buf) {
                Ok(Some(len)) if self.buf.len() >= len => len,
                Ok(_) => return None,
                Err(_) => {
                    self.verdict = Some(Verdict::MustNotify);
                    return self.verdict;
                }
            };
            let msg: Vec<u8> = self.buf.drain(..len).collect();
            self.verdict = match decode_message(&self.ctx, &msg) {
                Err(_) => Some(Verdict::MustNotify),
                Ok(d) => match d.message {
                    Message::Notification(_) => Some(Verdict::PeerNotified),
                    Message::Open(_) => Some(Verdict::MustNotify),
                    _ => None,
                },
            };
            if self.verdict.is_some() {
                return self.verdict;
            }
        }
    }
}

/// The live connection from the peer, as the driver sees it.
#[derive(Debug)]
struct Conn {
    id: ConnId,
    /// The node closed or aborted it.
    closed_by_node: bool,
    /// The peer closed it ([`Op::PeerCloses`]).
    closed_by_peer: bool,
    /// We sent a NOTIFICATION on it.
    notified: bool,
    /// Bytes were sent and not yet reported written.
    unwritten: bool,
    /// The shadow decoder, from Established on.
    shadow: Option<Shadow>,
}

impl Conn {
    fn live(&self) -> bool {
        !self.closed_by_node && !self.closed_by_peer
    }
}

/// The node, its data plane and the driver state around them.
pub struct Harness {
    setup: Setup,
    rx: CodecContext,
    tx: CodecContext,
    node: Node,
    dp: MemoryDataplane,
    now: Instant,
    conn: Option<Conn>,
    established: bool,
    /// The last time the session went down it did so without graceful restart.
    down_hard: bool,
    /// A prefix limit was hit since the last operation began.
    max_prefix_hit: bool,
    /// Connections we refused to open for the node, to report as failed.
    failed_connects: Vec<ConnId>,
    /// Print every event and intent (for [`tests`]' replay).
    trace: bool,
}

impl Harness {
    /// Builds the node of `setup` and brings the session with the peer to Established
    /// (asserted).
    pub fn new(setup: Setup) -> Harness {
        let now = Instant::now();
        let node = match Node::new(setup.node_config(), now) {
            Ok(n) => n,
            Err(e) => panic!("harness configuration refused: {e}"),
        };
        let rx = setup.rx_context();
        let tx = setup.tx_context();
        let mut h = Harness {
            setup,
            rx,
            tx,
            node,
            dp: MemoryDataplane::default(),
            now,
            conn: None,
            established: false,
            down_hard: false,
            max_prefix_hit: false,
            failed_connects: Vec::new(),
            trace: false,
        };
        h.drain();
        h.connect();
        assert!(h.established, "the session did not reach Established");
        h.check();
        h
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// True while the session is Established.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The peer connects and sends its OPEN and KEEPALIVE.
    fn connect(&mut self) {
        let Ok(a) = self.node.accept(IpAddr::V4(PEER_ID), self.now) else {
            panic!("the neighbour's connection was refused");
        };
        self.conn = Some(Conn {
            id: a.conn,
            closed_by_node: false,
            closed_by_peer: false,
            notified: false,
            unwritten: false,
            shadow: None,
        });
        self.drain();
        let mut hello = self.setup.peer_open();
        hello.extend_from_slice(&keepalive());
        self.node.handle(
            Input::Received {
                conn: a.conn,
                bytes: &hello,
            },
            self.now,
        );
        self.drain();
        if self.established {
            if let Some(c) = &mut self.conn {
                c.shadow = Some(Shadow::new(self.rx.clone()));
            }
        }
    }

    /// Plays one operation, drains and checks.
    pub fn step(&mut self, op: Op<'_>) {
        self.max_prefix_hit = false;
        match op {
            Op::Bytes(b) | Op::LongBytes(b) | Op::Rest(b) => self.receive(b),
            Op::Wait(d) => self.wait(wait_duration(d)),
            Op::Generated(p) => {
                let bytes = self.setup.generated_update(p);
                self.receive(&bytes);
            }
            Op::PeerCloses => {
                if let Some(c) = self.conn.as_mut().filter(|c| c.live()) {
                    c.closed_by_peer = true;
                    let id = c.id;
                    self.node.handle(Input::Closed { conn: id }, self.now);
                    self.drain();
                }
            }
            Op::Reconnect => {
                if !self.conn.as_ref().is_some_and(Conn::live) {
                    self.connect();
                }
            }
            Op::LocalMac(b) => {
                let vni = if b & 0x40 != 0 { VNIS[1] } else { VNIS[0] };
                let mac = pool_mac(b);
                let fb = if b & 0x80 == 0 {
                    DataplaneFeedback::LocalMacLearned {
                        vni,
                        mac,
                        ip: (b & 0x20 != 0)
                            .then(|| IpAddr::V4(Ipv4Addr::new(192, 0, 2, (b & 7) + 1))),
                    }
                } else {
                    DataplaneFeedback::LocalMacGone { vni, mac }
                };
                self.node.handle(Input::Dataplane(fb), self.now);
                self.drain();
            }
        }
        self.check();
    }

    /// Bytes from the peer on the current connection, checked against the shadow decoder.
    fn receive(&mut self, bytes: &[u8]) {
        let Some(c) = &mut self.conn else {
            return;
        };
        let id = c.id;
        let was_live = c.live();
        let verdict = c.shadow.as_mut().and_then(|s| s.feed(bytes));
        let notified_before = c.notified;
        // Fed even to a connection the node has closed: it must ignore it.
        self.node
            .handle(Input::Received { conn: id, bytes }, self.now);
        self.drain();
        let Some(c) = &self.conn else {
            return;
        };
        if !was_live || c.shadow.is_none() {
            return;
        }
        match verdict {
            Some(Verdict::MustNotify) => {
                assert!(
                    c.closed_by_node,
                    "malformed or unexpected message left the connection open"
                );
                assert!(
                    c.notified || notified_before,
                    "connection closed on a bad message without a NOTIFICATION"
                );
            }
            Some(Verdict::PeerNotified) => assert!(
                c.closed_by_node,
                "the connection stayed open after the peer's NOTIFICATION"
            ),
            None => assert!(
                !c.closed_by_node || self.max_prefix_hit,
                "the connection was closed on bytes the codec accepts"
            ),
        }
    }

    /// Time passes by `d`: every timer due runs at its own time, then the clock is at
    /// `now + d`.
    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..MAX_TIMERS_PER_STEP {
            match self.node.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.node.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Drains every output, intent and event, feeding the node back what a driver would
    /// (failed outgoing connections, bytes written), until it is quiet.
    fn drain(&mut self) {
        for _ in 0..MAX_DRAIN_ROUNDS {
            let mut fed = false;
            while let Some(o) = self.node.poll_output() {
                self.on_output(o);
            }
            while let Some(i) = self.node.poll_intent() {
                if self.trace {
                    eprintln!("  intent {i:?}");
                }
                if let Err(e) = self.dp.apply(&i) {
                    panic!("{e}");
                }
            }
            while let Some(ev) = self.node.poll_event() {
                if self.trace {
                    eprintln!("  event {ev:?}");
                }
                self.on_event(ev);
            }
            for conn in std::mem::take(&mut self.failed_connects) {
                self.node.handle(Input::ConnectFailed { conn }, self.now);
                fed = true;
            }
            if let Some(c) = &mut self.conn {
                if c.unwritten && c.live() && !self.setup.slow_reader {
                    c.unwritten = false;
                    let id = c.id;
                    self.node.handle(Input::Drained { conn: id }, self.now);
                    fed = true;
                }
            }
            if !fed {
                return;
            }
        }
    }

    fn on_output(&mut self, o: Output) {
        let ours = |c: &Option<Conn>, id: ConnId| c.as_ref().is_some_and(|c| c.id == id);
        match o {
            Output::Connect { conn, .. } => self.failed_connects.push(conn),
            Output::Send { conn, bytes } if ours(&self.conn, conn) => {
                // OPEN and KEEPALIVE decode alike in every context.
                let notified = check_sent(&self.tx, &bytes);
                if let Some(c) = &mut self.conn {
                    assert!(!c.closed_by_node, "bytes sent after the close");
                    c.notified |= notified;
                    c.unwritten = true;
                }
            }
            Output::Close { conn } | Output::Abort { conn } if ours(&self.conn, conn) => {
                if let Some(c) = &mut self.conn {
                    c.closed_by_node = true;
                }
            }
            _ => {}
        }
    }

    fn on_event(&mut self, ev: NodeEvent) {
        match ev {
            NodeEvent::Established { families, .. } => {
                assert_eq!(
                    families,
                    self.setup.negotiated_families(),
                    "negotiated families"
                );
                self.established = true;
                self.down_hard = false;
            }
            NodeEvent::Down { graceful, .. } => {
                assert!(
                    self.conn.as_ref().is_some_and(|c| !c.live()),
                    "the session went down with its connection open"
                );
                self.established = false;
                self.down_hard = !graceful;
            }
            NodeEvent::MaxPrefix { .. } => {
                assert!(self.setup.max_prefix, "prefix limit without one configured");
                self.max_prefix_hit = true;
            }
            _ => {}
        }
    }

    /// The invariants (module documentation).
    pub fn check(&self) {
        assert_eq!(
            self.dp.tables(),
            self.node.expected_dataplane(),
            "the data plane and the engine's tables disagree"
        );
        let rib = self.node.rib();
        let peer = RouteSource::Peer(PeerId(0));
        if !self.established {
            for f in FAMILIES {
                for (route, paths) in rib.loc_rib(f) {
                    for p in paths.iter().filter(|p| p.source == peer) {
                        assert!(
                            p.stale && !self.down_hard,
                            "a path of a neighbour that is down is not stale: {route:?}"
                        );
                    }
                }
            }
        }
        let Some(engine) = self.node.engine() else {
            return;
        };
        // Best type-2 and type-3 paths by (VNI, MAC, VTEP) and (VNI, VTEP).
        let mut macs: HashSet<(Vni, MacAddress, IpAddr)> = HashSet::new();
        let mut floods: HashSet<(Vni, IpAddr)> = HashSet::new();
        let mut imported: Vec<(Vni, MacAddress)> = Vec::new();
        for (_, paths) in rib.loc_rib(Family::L2VPN_EVPN) {
            let Some(best) = paths.first() else {
                continue;
            };
            match &best.route {
                Route::Evpn(EvpnRoute::MacIp(r)) => {
                    let (Some(vni), Some(vtep)) =
                        (Vni::from_label(r.label1), best.attrs.next_hop.ip())
                    else {
                        continue;
                    };
                    macs.insert((vni, r.mac, vtep));
                    if best.source == peer
                        && vtep != IpAddr::V4(OUR_VTEP)
                        && !r.mac.is_multicast()
                        && imports(best, self.setup.local_asn, vni)
                    {
                        imported.push((vni, r.mac));
                    }
                }
                Route::Evpn(EvpnRoute::InclusiveMulticast(_)) => {
                    if let Some(pmsi) = &best.attrs.pmsi_tunnel {
                        if let (evpnd_wire::PmsiTunnelId::IngressReplication(vtep), Some(vni)) =
                            (&pmsi.tunnel, Vni::from_label(pmsi.label))
                        {
                            floods.insert((vni, *vtep));
                        }
                    }
                }
                _ => {}
            }
        }
        for evi in engine.evis() {
            let vni = evi.vni;
            let table = engine.mac_table(vni);
            for m in &table {
                // A duplicate is frozen where it was detected (RFC 7432 §15.1: MAC/IP routes
                // for it are not processed until the freeze ends), route or no route.
                if matches!(m.duplicate, DuplicateState::Frozen { .. }) {
                    continue;
                }
                if let Location::Remote { vtep } = m.origin {
                    assert!(
                        macs.contains(&(vni, m.mac, vtep)),
                        "remote MAC {} in VNI {vni} at {vtep} has no best type-2 path",
                        m.mac
                    );
                }
            }
            for vtep in engine.flood_list(vni) {
                assert!(
                    floods.contains(&(vni, vtep)),
                    "flood entry {vtep} in VNI {vni} has no best type-3 path"
                );
            }
            for (v, mac) in &imported {
                if *v == vni {
                    assert!(
                        table.iter().any(|m| m.mac == *mac),
                        "imported best path of {mac} in VNI {vni} has no MAC entry"
                    );
                }
            }
        }
    }
}

/// True when the path carries the auto route target of `vni` (what the harness's EVIs import).
fn imports(p: &Path, asn: u32, vni: Vni) -> bool {
    let want = ExtendedCommunity::route_target(auto_route_target(asn, vni));
    p.attrs.route_targets().any(|rt| *rt == want)
}

/// Every message we send must decode with the peer's context, and UPDATEs be accepted as they
/// are (we never send a malformed message, RFC 7606 §1). Returns true when `bytes` hold a
/// NOTIFICATION.
fn check_sent(ctx: &CodecContext, bytes: &[u8]) -> bool {
    let (msgs, err) = decode_all(ctx, bytes);
    if let Some((at, e)) = err {
        if !matches!(e, DecodeError::Incomplete { .. }) {
            panic!("we sent a message the peer cannot decode (at {at}): {e}");
        }
        panic!("we sent a partial message (at {at})");
    }
    let mut notified = false;
    for d in msgs {
        match d.message {
            Message::Update(_) => assert_eq!(
                d.outcome,
                Outcome::Accept,
                "we sent an UPDATE the peer would not accept as it is"
            ),
            Message::Notification(_) => notified = true,
            _ => {}
        }
    }
    notified
}

/// Runs one input: setup, Established, then every operation.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let setup = Setup::take(&mut u);
    let mut h = Harness::new(setup);
    while let Some(op) = Op::take(&mut u) {
        h.step(op);
    }
}

/// An UPDATE whose withdrawn-routes length runs past the message: a session reset with
/// UPDATE Message Error / Malformed Attribute List (RFC 4271 §6.3, RFC 7606 §4).
pub fn malformed_update() -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0, 27, 2, 0, 40, 0, 0, 24, 192, 0, 2]);
    m
}

/// The seed corpus of the target: (name, input). Written to `corpus/node_receive/` by
/// `cargo test --lib -- --ignored write_node_receive_seeds` (see the README).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let concat = |setup: &Setup, params: &[[u8; 4]]| {
        let mut b = Vec::new();
        for p in params {
            b.extend_from_slice(&setup.generated_update(*p));
        }
        b
    };
    let input = |bytes: [u8; SETUP_LEN], ops: &[Op<'_>]| {
        let mut v = bytes.to_vec();
        for op in ops {
            op.encode(&mut v);
        }
        v
    };

    // iBGP, EVPN + RT-Constraint, route refresh, graceful restart, two EVIs, two local
    // endpoints (one with an IP): a valid stream of type-3 and type-2 routes split in the middle
    // of a message, time, a withdrawal and End-of-RIB.
    let b = [
        0,
        0,
        1,
        0b0011,
        0b0011,
        0,
        0,
        0b0000_1010,
        0,
        2,
        2,
        0b0000_0100,
        0,
    ];
    let s = Setup::from_bytes(&b);
    let mut stream = concat(
        &s,
        &[
            [3, 0, 0, 0],          // type-3, VNI 100, VTEP .2
            [3, 1, 1, 0],          // type-3, VNI 200, VTEP .3
            [0, 2 << 2, 0, 0],     // MAC 3, VNI 100, VTEP .2
            [1, 1 | 3 << 2, 1, 0], // MAC 4 + 192.0.2.4, VNI 200, VTEP .3
            [4, 0, 0, 0],          // RT-Constraint membership
        ],
    );
    stream.extend_from_slice(&keepalive());
    let (a, rest) = stream.split_at(stream.len() / 2 + 3);
    let mut tail = concat(&s, &[[8, 2 << 2, 0, 0], [7, 0, 0, 0]]);
    tail.extend_from_slice(&keepalive());
    out.push((
        "ibgp-evpn-stream",
        input(
            b,
            &[
                Op::LongBytes(a),
                Op::LongBytes(rest),
                Op::Wait(0x40 | 30),
                Op::LongBytes(&tail),
                Op::Wait(0x40 | 60),
            ],
        ),
    ));

    // eBGP, our AS 4-octet, the peer's 2-octet (no 4-octet AS capability), EVPN + IPv4 with
    // ADD-PATH receive; the peer sends EVPN and both IPv4: two paths of one MAC route.
    let b = [
        1,
        1,
        0,
        0b0101,
        0b0101,
        0b0101,
        0b0011_0010,
        0b0000_1000,
        0,
        1,
        1,
        0,
        0,
    ];
    let s = Setup::from_bytes(&b);
    let stream = concat(
        &s,
        &[
            [3, 0, 0, 0],
            [0, 1 << 2, 4, 0],              // MAC 2 from VTEP .2, shared RD, path 1
            [0, 1 << 2, 4 | 1 | 1 << 3, 0], // the same route from VTEP .3, path 2
            [0x45, 0, 0, 7],                // IPv4 203.0.113.0/32 (mobility bit ignored)
            [0, 0, 0, 0],                   // MAC 1: the local endpoint's, sequence 0
            [0x40, 0, 1 | 2 << 3, 3],       // MAC 1 again with sequence 3: it moves
        ],
    );
    out.push(("ebgp-2octet-add-path", input(b, &[Op::Rest(&stream)])));

    // A valid type-2 route, then a malformed UPDATE: NOTIFICATION and close; the peer
    // reconnects and sends a message with a broken marker.
    let b = [0, 0, 1, 0b0001, 0b0001, 0, 0, 0, 0, 1, 0, 0, 0];
    let s = Setup::from_bytes(&b);
    let mut stream = concat(&s, &[[0, 3 << 2, 0, 0]]);
    stream.extend_from_slice(&malformed_update());
    let mut broken = keepalive();
    broken[3] = 0;
    out.push((
        "malformed-update",
        input(
            b,
            &[
                Op::Bytes(&stream),
                Op::Wait(0x40 | 5),
                Op::Reconnect,
                Op::Rest(&broken),
            ],
        ),
    ));

    // Graceful restart: routes, the peer's TCP connection drops (routes kept stale), it comes
    // back, sends part of its table and End-of-RIB (the rest is purged, RFC 4724 §4.2).
    let b = [
        0,
        0,
        1,
        0b0001,
        0b0001,
        0,
        0,
        0b0000_0010,
        0,
        1,
        1,
        0b0000_0100,
        0,
    ];
    let s = Setup::from_bytes(&b);
    let first = concat(&s, &[[3, 0, 0, 0], [0, 2 << 2, 0, 0], [0, 3 << 2, 1, 0]]);
    let again = concat(&s, &[[0, 2 << 2, 0, 0], [7, 0, 0, 0]]);
    out.push((
        "graceful-restart",
        input(
            b,
            &[
                Op::LongBytes(&first),
                Op::PeerCloses,
                Op::Wait(0x40 | 10),
                Op::Reconnect,
                Op::LongBytes(&again),
                Op::Wait(0x40 | 60),
            ],
        ),
    ));

    // The generator and local MACs interleaved, hold time 9 s without keepalives from the
    // peer: the hold timer expires (RFC 4271 §6.5), the peer reconnects.
    let b = [0, 0, 1, 0b1111, 0b1111, 0, 0, 0b0001_1100, 3, 2, 0, 0, 0];
    out.push((
        "generated-and-hold-timer",
        input(
            b,
            &[
                Op::Generated([3, 0, 0, 0]),
                Op::Generated([0, 0, 0, 0]),
                Op::LocalMac(0x20),
                Op::Generated([0x40, 0, 1, 9]),
                Op::Generated([0x62, 1 | 5 << 2, 3, 1]),
                Op::Generated([6, 3 << 2, 0, 0]),
                Op::LocalMac(0x80),
                Op::Wait(0x40 | 20),
                Op::Reconnect,
                Op::Generated([0x0b, 0, 0, 0]),
            ],
        ),
    ));

    // A local MAC claimed sticky by the peer (RFC 7432 §15.2) three times over, the session
    // broken each time by a bad marker: the moves make it a duplicate, frozen at the peer's
    // VTEP although its route is gone (RFC 7432 §15.1), until the freeze ends 180 s later.
    let b = [
        0,
        0,
        1,
        0b1111,
        0b1111,
        0,
        0,
        0b0001_1100,
        3,
        2,
        1,
        0b0010_0000,
        0,
    ];
    let mut broken = keepalive();
    broken[0] = 0;
    let mut ops = Vec::new();
    for _ in 0..3 {
        ops.extend([
            Op::Generated([0x62, 1, 0, 0]),
            Op::Bytes(&broken),
            Op::Reconnect,
        ]);
    }
    ops.push(Op::Wait(0xc0 | 4));
    out.push(("frozen-duplicate", input(b, &ops)));

    // eBGP with BGP Roles (RFC 9234): we are the provider, the peer announces customer, strict
    // mode; IPv4 and IPv6 unicast with and without Only-to-Customer: a route from a customer
    // that carries OTC is a leak (§5).
    let b = [1, 0, 1, 0b1100, 0b1100, 0, 0, 0, 0, 0, 0, 0, 1 | 8 | 16];
    out.push((
        "ebgp-roles-otc",
        input(
            b,
            &[
                Op::Generated([5, 0, 0, 3]),      // 203.0.113.0/32, OTC = the peer's AS
                Op::Generated([5, 1 << 2, 0, 0]), // 203.0.113.1/32, no OTC
                Op::Generated([6, 0, 0, 1]),      // 2001:db8:113::/128, OTC = 65500
                Op::Generated([0x0d, 0, 0, 0]),   // withdraw 203.0.113.0/32
            ],
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(input: &[u8]) -> Harness {
        let mut u = Unstructured::new(input);
        let mut h = Harness::new(Setup::take(&mut u));
        while let Some(op) = Op::take(&mut u) {
            h.step(op);
        }
        h
    }

    #[test]
    fn every_seed_runs_clean_and_does_what_it_says() {
        for (name, input) in seeds() {
            let h = play(&input);
            let macs = h.node().macs(0).map(|m| m.len()).unwrap_or(0);
            match name {
                "ibgp-evpn-stream" => {
                    assert!(h.is_established(), "{name}");
                    // Two local MACs and MAC 4 remote (MAC 3 was withdrawn).
                    assert_eq!(macs, 3, "{name}");
                    assert_eq!(h.node().flood(0).unwrap_or_default().len(), 2);
                }
                "ebgp-2octet-add-path" => {
                    assert!(h.is_established(), "{name}");
                    let paths = h
                        .node()
                        .rib()
                        .loc_rib(Family::L2VPN_EVPN)
                        .map(|(_, p)| p.len())
                        .max();
                    assert_eq!(paths, Some(2), "{name}: two paths of one route");
                }
                "malformed-update" => assert!(!h.is_established(), "{name}"),
                "graceful-restart" => {
                    assert!(h.is_established(), "{name}");
                    // Local MAC 1 and remote MAC 3 (MAC 4 was purged with End-of-RIB).
                    assert_eq!(macs, 2, "{name}");
                }
                "generated-and-hold-timer" => assert!(h.is_established(), "{name}"),
                "ebgp-roles-otc" => {
                    assert!(h.is_established(), "{name}");
                    let v4: Vec<Route> = h
                        .node()
                        .rib()
                        .loc_rib(Family::IPV4_UNICAST)
                        .map(|(r, _)| r)
                        .collect();
                    let clean =
                        Route::Ipv4(ip_prefix(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 32));
                    assert_eq!(v4, vec![clean], "{name}: the leak is not selected");
                }
                "frozen-duplicate" => {
                    let status = h.node().evpn_status();
                    let counters = status.map(|s| s.counters);
                    assert_eq!(counters.map(|c| (c.duplicate, c.unfrozen)), Some((1, 1)));
                    let table = h.node().macs(200).unwrap_or_default();
                    assert!(table.iter().all(|m| m.origin == Location::Local), "{name}");
                }
                _ => {}
            }
        }
    }

    /// Plays the input in the file `$NODE_RECEIVE_INPUT` (a crash artifact) and prints every
    /// operation with the MAC tables and events after it.
    #[test]
    #[ignore]
    fn replay_with_a_trace() {
        let Ok(path) = std::env::var("NODE_RECEIVE_INPUT") else {
            return;
        };
        let input = std::fs::read(path).unwrap_or_else(|e| panic!("{e}"));
        let mut u = Unstructured::new(&input);
        let setup = Setup::take(&mut u);
        eprintln!("{setup:#?}");
        let mut h = Harness::new(setup);
        eprintln!("established; macs {:?}", h.node().macs(0));
        while let Some(op) = Op::take(&mut u) {
            eprintln!("---- {op:?}");
            if let Op::Generated(p) = op {
                let bytes = h.setup.generated_update(p);
                eprintln!("{:?}", decode_message(&h.rx, &bytes).map(|d| d.message));
            }
            h.trace = true;
            h.step(op);
            for m in h.node().macs(0).unwrap_or_default() {
                eprintln!(
                    "  mac {} vni {} {} seq {} sticky {} dup {:?} conflict {}",
                    m.mac, m.vni, m.origin, m.sequence, m.sticky, m.duplicate, m.sticky_conflict
                );
            }
        }
    }

    /// Rewrites `corpus/node_receive/` from [`seeds`].
    #[test]
    #[ignore]
    fn write_node_receive_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/node_receive");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for (name, input) in seeds() {
            std::fs::write(dir.join(name), input).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn the_empty_input_establishes_an_evpn_session() {
        run(&[]);
        let h = Harness::new(Setup::from_bytes(&[0; SETUP_LEN]));
        assert!(h.is_established());
        assert!(h.node().engine().is_none());
    }
}
