//! A corpus of BGP messages that covers everything `evpnd-wire` can emit.
//!
//! Every message is built through the public API (typed [`Message`] values, [`encode_message`],
//! [`UpdatePacker`]); there is no hand-written hex. The corpus feeds the Wireshark oracle test
//! (`tests/wireshark.rs`) and may seed property or fuzz tests.
//!
//! * [`corpus`] returns single messages, each with the [`CodecContext`] of the session it is
//!   meant for: OPEN with every capability type, KEEPALIVE, NOTIFICATION, ROUTE-REFRESH, and
//!   UPDATEs for EVPN route types 1–5, IPv4/IPv6 unicast, RT-Constraint, End-of-RIB markers, all
//!   path attributes and all typed extended communities.
//! * [`packed_batches`] returns route batches that [`UpdatePacker`] splits into several
//!   messages of the session's maximum size (4096 bytes, or 65535 with RFC 8654).
//!
//! Addresses follow the project rules: 198.18.0.0/15 for VTEPs, next hops and router IDs;
//! 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (and 2001:db8::/32) for tenants; MAC
//! addresses with the locally administered bit (02:...).

use evpnd_wire::attribute::{TunnelSubTlv, TunnelTlv};
use evpnd_wire::capability::{
    AddPathFamily, AddPathMode, BgpRole, GracefulRestart, GracefulRestartFamily, LlgrFamily,
};
use evpnd_wire::evpn::MAX_ETHERNET_TAG;
use evpnd_wire::message::refresh_subtype;
use evpnd_wire::types::AS_TRANS;
use evpnd_wire::{
    encode_message, Aggregator, AsPath, AsSegment, AttrSet, Capability, CodecContext, Community,
    Esi, EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, ExtCommunityKind, ExtendedCommunity,
    Family, InclusiveMulticastRoute, IpPrefixRoute, Ipv6ExtCommunityKind, Ipv6ExtendedCommunity,
    Label, LargeCommunity, MacAddress, MacIpRoute, Message, MpReach, MpUnreach, NextHop, Nlri,
    Notification, Open, Origin, PathAttribute, PmsiTunnel, Route, RouteDistinguisher, RouteRefresh,
    RouteTarget, RtMembership, SegmentType, UnknownAttribute, Update, UpdatePacker,
};
use evpnd_wire::{IpPrefix, PmsiTunnelId};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One message of the corpus and the session it is encoded for.
#[derive(Clone, Debug)]
pub struct Case {
    /// Short unique name (`evpn-t2-mac-ipv4-label2`, ...), used in test failure messages.
    pub name: String,
    /// The message.
    pub message: Message,
    /// The session context to encode (and decode) it with.
    pub ctx: CodecContext,
}

impl Case {
    fn new(name: &str, ctx: CodecContext, message: Message) -> Self {
        Case {
            name: name.to_string(),
            message,
            ctx,
        }
    }

    /// The message encoded with [`encode_message`]. Panics if the encoder refuses it: every
    /// corpus entry is meant to be valid.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = encode_message(&self.ctx, &self.message, &mut out) {
            panic!("corpus case {} does not encode: {e}", self.name);
        }
        out
    }
}

/// What a [`Batch`] asks the packer to do.
#[derive(Clone, Debug)]
pub enum BatchAction {
    /// [`UpdatePacker::announce`] with this next hop, these attributes and Partial bits.
    Announce {
        /// MP_REACH next hop (ignored for IPv4 unicast, whose NEXT_HOP is an attribute).
        next_hop: NextHop,
        /// Path attributes shared by every message.
        attributes: Vec<PathAttribute>,
        /// Attributes sent with the Partial bit.
        partial: AttrSet,
    },
    /// [`UpdatePacker::withdraw`].
    Withdraw,
}

/// Routes of one family that [`UpdatePacker`] splits into several UPDATE messages.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Short unique name.
    pub name: String,
    /// The session context (its maximum message size decides the split).
    pub ctx: CodecContext,
    /// The family of every route.
    pub family: Family,
    /// Announce or withdraw.
    pub action: BatchAction,
    /// The routes, in the order they must appear on the wire.
    pub routes: Vec<Nlri>,
}

impl Batch {
    /// The packed messages, back to back, and how many there are. Panics if the packer fails.
    pub fn encode(&self) -> (Vec<u8>, usize) {
        let packer = UpdatePacker::new(&self.ctx);
        let mut out = Vec::new();
        let n = match &self.action {
            BatchAction::Announce {
                next_hop,
                attributes,
                partial,
            } => packer.announce(
                self.family,
                next_hop,
                attributes,
                *partial,
                &self.routes,
                &mut out,
            ),
            BatchAction::Withdraw => packer.withdraw(self.family, &self.routes, &mut out),
        };
        match n {
            Ok(n) => (out, n),
            Err(e) => panic!("batch {} does not pack: {e}", self.name),
        }
    }
}

/// Session contexts used by the corpus.
pub mod ctx {
    use super::*;

    /// iBGP, 4-octet AS, 4096-byte messages, no ADD-PATH (the common evpnd session).
    pub fn ibgp() -> CodecContext {
        CodecContext::default()
    }

    /// eBGP, 4-octet AS.
    pub fn ebgp() -> CodecContext {
        CodecContext {
            external_peer: true,
            ..CodecContext::default()
        }
    }

    /// eBGP with a speaker that lacks the 4-octet AS capability (RFC 6793 §4.2.2): AS_PATH and
    /// AGGREGATOR carry 2-octet AS numbers, AS4_PATH/AS4_AGGREGATOR the real ones.
    pub fn two_octet_ebgp() -> CodecContext {
        CodecContext {
            four_octet_as: false,
            external_peer: true,
            ..CodecContext::default()
        }
    }

    /// iBGP with ADD-PATH (RFC 7911) for IPv4 unicast, IPv6 unicast and EVPN.
    pub fn add_path() -> CodecContext {
        CodecContext {
            add_path: vec![
                Family::IPV4_UNICAST,
                Family::IPV6_UNICAST,
                Family::L2VPN_EVPN,
            ],
            ..CodecContext::default()
        }
    }

    /// iBGP with the extended message capability (RFC 8654): UPDATEs up to 65535 bytes.
    pub fn extended() -> CodecContext {
        CodecContext {
            extended_message: true,
            ..CodecContext::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Value helpers (layouts from the RFCs named on each).

/// Local AS of the corpus speaker.
pub const LOCAL_AS: u32 = 65000;
/// A 4-octet AS number (RFC 6793) used in paths, RDs and RTs.
pub const BIG_AS: u32 = 4_200_000_000;

/// IPv4 VTEP / next hop number `n` in 198.18.0.0/15.
pub fn vtep(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, n)
}

/// IPv6 VTEP / next hop number `n` in 2001:db8:ffff::/48.
pub fn vtep6(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, n)
}

/// A locally administered MAC `02:00:00:a:b:c`.
pub fn mac(a: u8, b: u8, c: u8) -> MacAddress {
    MacAddress([0x02, 0, 0, a, b, c])
}

/// ESI type 0: operator-configured 9-octet value (RFC 7432 §5).
pub fn esi_type0(value: [u8; 9]) -> Esi {
    let mut b = [0u8; 10];
    b[1..].copy_from_slice(&value);
    Esi(b)
}

/// ESI type 1: CE LACP system MAC + port key + one zero octet (RFC 7432 §5).
pub fn esi_lacp(system_mac: MacAddress, port_key: u16) -> Esi {
    let mut b = [0u8; 10];
    b[0] = 1;
    b[1..7].copy_from_slice(&system_mac.0);
    b[7..9].copy_from_slice(&port_key.to_be_bytes());
    Esi(b)
}

/// ESI type 2: root bridge MAC + priority + one zero octet (RFC 7432 §5).
pub fn esi_bridge(root_mac: MacAddress, priority: u16) -> Esi {
    let mut b = [0u8; 10];
    b[0] = 2;
    b[1..7].copy_from_slice(&root_mac.0);
    b[7..9].copy_from_slice(&priority.to_be_bytes());
    Esi(b)
}

/// ESI type 3: system MAC + 3-octet local discriminator (RFC 7432 §5).
pub fn esi_mac(system_mac: MacAddress, discriminator: u32) -> Esi {
    let mut b = [0u8; 10];
    b[0] = 3;
    b[1..7].copy_from_slice(&system_mac.0);
    b[7..10].copy_from_slice(&discriminator.to_be_bytes()[1..]);
    Esi(b)
}

/// ESI type 4: router ID + 4-octet local discriminator + one zero octet (RFC 7432 §5).
pub fn esi_router_id(router_id: Ipv4Addr, discriminator: u32) -> Esi {
    let mut b = [0u8; 10];
    b[0] = 4;
    b[1..5].copy_from_slice(&router_id.octets());
    b[5..9].copy_from_slice(&discriminator.to_be_bytes());
    Esi(b)
}

/// ESI type 5: AS number + 4-octet local discriminator + one zero octet (RFC 7432 §5).
pub fn esi_as(asn: u32, discriminator: u32) -> Esi {
    let mut b = [0u8; 10];
    b[0] = 5;
    b[1..5].copy_from_slice(&asn.to_be_bytes());
    b[5..9].copy_from_slice(&discriminator.to_be_bytes());
    Esi(b)
}

/// A VXLAN label field carrying `vni` (RFC 8365 §5.1.3).
pub fn vni(vni: u32) -> Label {
    Label::from_vni(vni).unwrap_or_else(|| panic!("VNI {vni} does not fit 24 bits"))
}

/// An MPLS label field with the bottom-of-stack bit set.
pub fn mpls(label: u32) -> Label {
    Label::from_mpls(label, true).unwrap_or_else(|| panic!("label {label} does not fit 20 bits"))
}

/// A route target extended community.
pub fn rt(rt: RouteTarget) -> ExtendedCommunity {
    ExtendedCommunity::route_target(rt)
}

/// Route target `asn:value` with a 2-octet AS (RFC 4360 §3.1).
pub fn rt_as2(asn: u16, value: u32) -> ExtendedCommunity {
    rt(RouteTarget::As2 { asn, value })
}

/// A standard community `asn:value` (RFC 1997).
pub fn community(asn: u16, value: u16) -> Community {
    Community((u32::from(asn) << 16) | u32::from(value))
}

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn ip6(segments: [u16; 8]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(segments))
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap_or_else(|e| panic!("bad prefix {s}: {e}"))
}

fn evpn(r: EvpnRoute) -> Nlri {
    Nlri::new(Route::Evpn(r))
}

fn ipv4(s: &str) -> Nlri {
    Nlri::new(Route::Ipv4(prefix(s)))
}

fn ipv6(s: &str) -> Nlri {
    Nlri::new(Route::Ipv6(prefix(s)))
}

/// ORIGIN IGP and an empty AS_PATH: the attributes of a locally originated iBGP route.
fn local_origin() -> Vec<PathAttribute> {
    vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::default()),
    ]
}

/// An EVPN announcement with `attributes` appended to ORIGIN/AS_PATH (keep them in ascending
/// type-code order, as RFC 4271 §5 recommends).
fn evpn_update(next_hop: IpAddr, routes: Vec<Nlri>, attributes: Vec<PathAttribute>) -> Update {
    let mut attrs = local_origin();
    attrs.extend(attributes);
    Update {
        mp_reach: Some(MpReach::new(
            Family::L2VPN_EVPN,
            NextHop::from_ip(next_hop),
            routes,
        )),
        attributes: attrs,
        ..Update::default()
    }
}

fn ext(cs: Vec<ExtendedCommunity>) -> PathAttribute {
    PathAttribute::ExtendedCommunities(cs)
}

fn kind(k: ExtCommunityKind) -> ExtendedCommunity {
    ExtendedCommunity::new(k)
}

fn upd(u: Update) -> Message {
    Message::Update(u)
}

// ---------------------------------------------------------------------------------------------
// The corpus.

/// Every message type, capability, route type, attribute and extended community kind that the
/// codec can emit, each in a valid message for the context it is paired with.
pub fn corpus() -> Vec<Case> {
    let mut v = Vec::new();
    opens(&mut v);
    v.push(Case::new("keepalive", ctx::ibgp(), Message::Keepalive));
    notifications(&mut v);
    route_refreshes(&mut v);
    evpn_updates(&mut v);
    unicast_updates(&mut v);
    rtc_updates(&mut v);
    end_of_ribs(&mut v);
    add_path_updates(&mut v);
    v
}

fn opens(v: &mut Vec<Case>) {
    let caps = vec![
        Capability::Multiprotocol(Family::L2VPN_EVPN),
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::Multiprotocol(Family::RT_CONSTRAINT),
        Capability::RouteRefresh,
        Capability::ExtendedMessage,
        Capability::GracefulRestart(GracefulRestart {
            restarting: true,
            notification: true,
            restart_time: 120,
            families: vec![
                GracefulRestartFamily {
                    family: Family::L2VPN_EVPN,
                    forwarding_preserved: true,
                },
                GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_preserved: false,
                },
            ],
        }),
        Capability::FourOctetAs(BIG_AS),
        Capability::AddPath(vec![
            AddPathFamily {
                family: Family::L2VPN_EVPN,
                mode: AddPathMode::Both,
            },
            AddPathFamily {
                family: Family::IPV4_UNICAST,
                mode: AddPathMode::Receive,
            },
            AddPathFamily {
                family: Family::IPV6_UNICAST,
                mode: AddPathMode::Send,
            },
        ]),
        Capability::EnhancedRouteRefresh,
        Capability::LongLivedGracefulRestart(vec![LlgrFamily {
            family: Family::L2VPN_EVPN,
            flags: 0x80,
            stale_time: 86_400,
        }]),
        Capability::Fqdn {
            hostname: b"leaf1".to_vec(),
            domain: b"example.net".to_vec(),
        },
        Capability::Role(BgpRole::CUSTOMER),
        // 239..=254 are reserved for experimental use (RFC 8810 §5): nobody gives them a meaning.
        Capability::Unknown {
            code: 240,
            value: vec![0xde, 0xad, 0xbe, 0xef],
        },
    ];
    v.push(Case::new(
        "open-all-capabilities",
        ctx::ibgp(),
        Message::Open(Open::new(BIG_AS, 90, vtep(1), caps)),
    ));
    v.push(Case::new(
        "open-2-octet-as",
        ctx::ibgp(),
        Message::Open(Open::new(
            LOCAL_AS,
            180,
            vtep(2),
            vec![
                Capability::Multiprotocol(Family::L2VPN_EVPN),
                Capability::RouteRefresh,
            ],
        )),
    ));
    // More than 255 octets of capabilities: the RFC 9072 extended optional parameters form.
    v.push(Case::new(
        "open-extended-optional-parameters",
        ctx::ibgp(),
        Message::Open(Open::new(
            BIG_AS,
            90,
            vtep(4),
            vec![
                Capability::Multiprotocol(Family::L2VPN_EVPN),
                Capability::Fqdn {
                    hostname: vec![b'h'; 200],
                    domain: b"dc1.example.net".to_vec(),
                },
                Capability::Unknown {
                    code: 241,
                    value: (0..64).collect(),
                },
            ],
        )),
    ));
    v.push(Case::new(
        "open-no-capabilities-hold-0",
        ctx::ibgp(),
        Message::Open(Open {
            my_as: 65001,
            hold_time: 0,
            bgp_id: vtep(3),
            capabilities: Vec::new(),
        }),
    ));
}

fn notifications(v: &mut Vec<Case>) {
    let text = "maintenance: leaf1 draining";
    let mut data = vec![text.len() as u8];
    data.extend_from_slice(text.as_bytes());
    let cases = [
        ("notification-cease-shutdown-communication", 6, 2, data),
        ("notification-cease-admin-reset-empty", 6, 4, Vec::new()),
        (
            "notification-cease-max-prefixes",
            6,
            1,
            vec![0, 1, 1, 0, 0, 0, 100],
        ),
        (
            "notification-update-attribute-flags",
            3,
            4,
            vec![0x40, 0x01, 0x01, 0x05],
        ),
        ("notification-hold-timer-expired", 4, 0, Vec::new()),
        ("notification-open-bad-peer-as", 2, 2, vec![0xfd, 0xe9]),
        ("notification-header-bad-length", 1, 2, vec![0x00, 0x12]),
        ("notification-fsm-established", 5, 3, vec![1]),
        ("notification-route-refresh-length", 7, 1, vec![0xff; 4]),
    ];
    for (name, code, subcode, data) in cases {
        v.push(Case::new(
            name,
            ctx::ibgp(),
            Message::Notification(Notification {
                code,
                subcode,
                data,
            }),
        ));
    }
}

fn route_refreshes(v: &mut Vec<Case>) {
    let cases = [
        (
            "route-refresh-evpn-normal",
            Family::L2VPN_EVPN,
            refresh_subtype::NORMAL,
        ),
        (
            "route-refresh-evpn-borr",
            Family::L2VPN_EVPN,
            refresh_subtype::BEGIN,
        ),
        (
            "route-refresh-evpn-eorr",
            Family::L2VPN_EVPN,
            refresh_subtype::END,
        ),
        (
            "route-refresh-ipv4-normal",
            Family::IPV4_UNICAST,
            refresh_subtype::NORMAL,
        ),
    ];
    for (name, family, subtype) in cases {
        v.push(Case::new(
            name,
            ctx::ibgp(),
            Message::RouteRefresh(RouteRefresh { family, subtype }),
        ));
    }
}

fn evpn_updates(v: &mut Vec<Case>) {
    let rd_v1 = RouteDistinguisher::ipv4(vtep(1), 100);
    let rd_as2 = RouteDistinguisher::as2(65000, 100);
    let rd_as4 = RouteDistinguisher::as4(BIG_AS, 7);
    let vxlan = ExtendedCommunity::vxlan_encapsulation();
    let rt_l2 = rt_as2(65000, 10100);

    // Type 1, per ES, MAX-ET (RFC 7432 §8.2.1), ESI type 1, ESI label EC (single-active).
    v.push(Case::new(
        "evpn-t1-per-es-max-et-esi-lacp",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::EthernetAd(EthernetAdRoute {
                rd: RouteDistinguisher::ipv4(vtep(1), 1),
                esi: esi_lacp(mac(0xaa, 0, 1), 0x1234),
                ethernet_tag: MAX_ETHERNET_TAG,
                label: Label::from_raw(0),
            }))],
            vec![ext(vec![
                rt_l2,
                kind(ExtCommunityKind::EsiLabel {
                    single_active: true,
                    label: mpls(1000),
                }),
            ])],
        )),
    ));
    // Type 1, per EVI, ESI type 0, RT with 4-octet AS, layer-2 attributes (RFC 8214).
    v.push(Case::new(
        "evpn-t1-per-evi-esi-arbitrary-l2attr",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::EthernetAd(EthernetAdRoute {
                rd: rd_as2,
                esi: esi_type0([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99]),
                ethernet_tag: 0,
                label: vni(10100),
            }))],
            vec![ext(vec![
                rt(RouteTarget::As4 {
                    asn: BIG_AS,
                    value: 100,
                }),
                vxlan,
                kind(ExtCommunityKind::Layer2Attributes {
                    control_flags: 0x0007,
                    l2_mtu: 9000,
                }),
            ])],
        )),
    ));
    // Type 2, MAC only, RD type 1, sticky MAC mobility.
    v.push(Case::new(
        "evpn-t2-mac-only-mobility",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::MacIp(MacIpRoute {
                rd: rd_v1,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: mac(0, 1, 1),
                ip: None,
                label1: vni(10100),
                label2: None,
            }))],
            vec![ext(vec![
                rt_l2,
                vxlan,
                kind(ExtCommunityKind::MacMobility {
                    sequence: 7,
                    sticky: true,
                }),
            ])],
        )),
    ));
    // Type 2, MAC + IPv4, label2 (symmetric IRB, RFC 9135), Router's MAC, ARP/ND, RT IPv4 form.
    v.push(Case::new(
        "evpn-t2-mac-ipv4-label2",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::MacIp(MacIpRoute {
                rd: rd_as2,
                esi: Esi::ZERO,
                ethernet_tag: 100,
                mac: mac(0, 1, 2),
                ip: Some(ip4(192, 0, 2, 10)),
                label1: vni(10100),
                label2: Some(vni(50001)),
            }))],
            vec![ext(vec![
                rt_l2,
                rt(RouteTarget::Ipv4 {
                    addr: vtep(1),
                    value: 50001,
                }),
                vxlan,
                kind(ExtCommunityKind::RouterMac(mac(0, 0xfe, 1))),
                kind(ExtCommunityKind::ArpNd {
                    router: true,
                    override_flag: false,
                    proxy: true,
                    immutable: false,
                }),
                kind(ExtCommunityKind::MacMobility {
                    sequence: 65_536,
                    sticky: false,
                }),
            ])],
        )),
    ));
    // Type 2, MAC + IPv6, RD type 2, ESI type 2, default gateway EC, IPv6 next hop.
    v.push(Case::new(
        "evpn-t2-mac-ipv6-rd-as4-default-gw",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V6(vtep6(1)),
            vec![evpn(EvpnRoute::MacIp(MacIpRoute {
                rd: rd_as4,
                esi: esi_bridge(mac(0xbb, 0, 1), 32768),
                ethernet_tag: 0,
                mac: mac(0, 1, 3),
                ip: Some(ip6([0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x10])),
                label1: vni(10100),
                label2: None,
            }))],
            vec![ext(vec![
                rt_l2,
                vxlan,
                kind(ExtCommunityKind::DefaultGateway),
            ])],
        )),
    ));
    // Type 2 with MPLS labels (MPLS encapsulation, no VXLAN), IPv6 + label2, two routes.
    v.push(Case::new(
        "evpn-t2-mpls-two-routes",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(2)),
            vec![
                evpn(EvpnRoute::MacIp(MacIpRoute {
                    rd: RouteDistinguisher::ipv4(vtep(2), 200),
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    mac: mac(0, 2, 1),
                    ip: Some(ip6([0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 0x21])),
                    label1: mpls(300),
                    label2: Some(mpls(301)),
                })),
                evpn(EvpnRoute::MacIp(MacIpRoute {
                    rd: RouteDistinguisher::ipv4(vtep(2), 200),
                    esi: Esi::ZERO,
                    ethernet_tag: 0,
                    mac: mac(0, 2, 2),
                    ip: Some(ip4(198, 51, 100, 22)),
                    label1: mpls(0xfffff),
                    label2: None,
                })),
            ],
            vec![ext(vec![
                rt_as2(65000, 200),
                kind(ExtCommunityKind::Encapsulation {
                    tunnel_type: evpnd_wire::community::tunnel_type::MPLS,
                }),
            ])],
        )),
    ));
    // Type 2 with the Tunnel Encapsulation attribute (RFC 9012) carrying a VXLAN TLV with its
    // encapsulation sub-TLV (RFC 9012 §3.2.1: V and M flags, VN-ID, MAC, 2 reserved octets).
    let mut vxlan_sub = vec![0xc0];
    vxlan_sub.extend_from_slice(&10100u32.to_be_bytes()[1..]);
    vxlan_sub.extend_from_slice(&mac(0, 0xfe, 1).0);
    vxlan_sub.extend_from_slice(&[0, 0]);
    v.push(Case::new(
        "evpn-t2-tunnel-encapsulation-vxlan",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::MacIp(MacIpRoute {
                rd: rd_v1,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                mac: mac(0, 1, 4),
                ip: Some(ip4(192, 0, 2, 11)),
                label1: vni(10100),
                label2: None,
            }))],
            vec![
                ext(vec![rt_l2]),
                PathAttribute::TunnelEncapsulation(vec![TunnelTlv {
                    tunnel_type: evpnd_wire::community::tunnel_type::VXLAN,
                    sub_tlvs: vec![TunnelSubTlv {
                        sub_type: 1,
                        value: vxlan_sub,
                    }],
                }]),
            ],
        )),
    ));
    // Type 3, IPv4 originator, PMSI ingress replication with the VNI (RFC 8365 §9).
    v.push(Case::new(
        "evpn-t3-ipv4-pmsi-ir-vxlan",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::InclusiveMulticast(
                InclusiveMulticastRoute {
                    rd: rd_v1,
                    ethernet_tag: 0,
                    originator: IpAddr::V4(vtep(1)),
                },
            ))],
            vec![
                ext(vec![rt_l2, vxlan]),
                PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(
                    IpAddr::V4(vtep(1)),
                    vni(10100),
                )),
            ],
        )),
    ));
    // Type 3, IPv4 originator, PMSI with an MPLS label and the leaf-info flag, no VXLAN EC.
    v.push(Case::new(
        "evpn-t3-ipv4-pmsi-ir-mpls",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(2)),
            vec![evpn(EvpnRoute::InclusiveMulticast(
                InclusiveMulticastRoute {
                    rd: RouteDistinguisher::as2(65000, 300),
                    ethernet_tag: 300,
                    originator: IpAddr::V4(vtep(2)),
                },
            ))],
            vec![
                ext(vec![rt_as2(65000, 300)]),
                PathAttribute::PmsiTunnel(PmsiTunnel {
                    flags: 0x01,
                    label: mpls(6250),
                    tunnel: PmsiTunnelId::IngressReplication(IpAddr::V4(vtep(2))),
                }),
            ],
        )),
    ));
    // Type 3, IPv6 originator, PMSI ingress replication to an IPv6 endpoint.
    v.push(Case::new(
        "evpn-t3-ipv6-pmsi-ir",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V6(vtep6(1)),
            vec![evpn(EvpnRoute::InclusiveMulticast(
                InclusiveMulticastRoute {
                    rd: rd_as4,
                    ethernet_tag: 0,
                    originator: IpAddr::V6(vtep6(1)),
                },
            ))],
            vec![
                ext(vec![rt_l2, vxlan]),
                PathAttribute::PmsiTunnel(PmsiTunnel::ingress_replication(
                    IpAddr::V6(vtep6(1)),
                    vni(10100),
                )),
            ],
        )),
    ));
    // Type 4, IPv4 originator, ESI type 3, ES-Import RT and DF election (RFC 8584).
    v.push(Case::new(
        "evpn-t4-ipv4-esi-mac-df-election",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::EthernetSegment(EthernetSegmentRoute {
                rd: RouteDistinguisher::ipv4(vtep(1), 0),
                esi: esi_mac(mac(0xcc, 0, 1), 0x0a0b0c),
                originator: IpAddr::V4(vtep(1)),
            }))],
            vec![ext(vec![
                kind(ExtCommunityKind::EsImportRouteTarget(mac(0xcc, 0, 1))),
                kind(ExtCommunityKind::DfElection {
                    algorithm: 1,
                    bitmap: 0x8000,
                }),
            ])],
        )),
    ));
    // Type 4, IPv6 originator, ESI type 4.
    v.push(Case::new(
        "evpn-t4-ipv6-esi-router-id",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V6(vtep6(1)),
            vec![evpn(EvpnRoute::EthernetSegment(EthernetSegmentRoute {
                rd: RouteDistinguisher::ipv4(vtep(1), 0),
                esi: esi_router_id(vtep(1), 77),
                originator: IpAddr::V6(vtep6(1)),
            }))],
            vec![ext(vec![kind(ExtCommunityKind::EsImportRouteTarget(mac(
                0xdd, 0, 1,
            )))])],
        )),
    ));
    // Type 5, IPv4 prefix with a gateway IP overlay index and a Router's MAC (RFC 9136).
    let rt_l3 = rt_as2(65000, 50001);
    let rmac = kind(ExtCommunityKind::RouterMac(mac(0, 0xfe, 1)));
    v.push(Case::new(
        "evpn-t5-ipv4-gateway-router-mac",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd: RouteDistinguisher::as2(65000, 50001),
                esi: Esi::ZERO,
                ethernet_tag: 0,
                prefix_len: 24,
                prefix: ip4(203, 0, 113, 0),
                gateway: ip4(198, 51, 100, 1),
                label: vni(50001),
            }))],
            vec![ext(vec![rt_l3, vxlan, rmac])],
        )),
    ));
    // Type 5, IPv6 prefix with a gateway and a Router's MAC.
    v.push(Case::new(
        "evpn-t5-ipv6-gateway-router-mac",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V6(vtep6(1)),
            vec![evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd: rd_as4,
                esi: Esi::ZERO,
                ethernet_tag: 0,
                prefix_len: 48,
                prefix: ip6([0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 0]),
                gateway: ip6([0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1]),
                label: vni(50001),
            }))],
            vec![ext(vec![rt_l3, vxlan, rmac])],
        )),
    ));
    // Type 5 with an ESI overlay index (ESI type 5), no gateway, no Router's MAC.
    v.push(Case::new(
        "evpn-t5-ipv4-esi-as",
        ctx::ibgp(),
        upd(evpn_update(
            IpAddr::V4(vtep(2)),
            vec![evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
                rd: RouteDistinguisher::ipv4(vtep(2), 5),
                esi: esi_as(BIG_AS, 88),
                ethernet_tag: 5,
                prefix_len: 25,
                prefix: ip4(198, 51, 100, 128),
                gateway: ip4(0, 0, 0, 0),
                label: vni(50002),
            }))],
            vec![ext(vec![rt_l3, vxlan])],
        )),
    ));
    // An EVPN announcement with every other optional attribute an iBGP speaker may add, an
    // unknown extended community and a Partial LARGE_COMMUNITY.
    let mut partial = AttrSet::default();
    partial.insert(evpnd_wire::attribute::attr_type::LARGE_COMMUNITY);
    let mut u = evpn_update(
        IpAddr::V4(vtep(1)),
        vec![evpn(EvpnRoute::MacIp(MacIpRoute {
            rd: rd_v1,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: mac(0, 1, 5),
            ip: Some(ip4(203, 0, 113, 5)),
            label1: vni(10100),
            label2: Some(vni(50001)),
        }))],
        vec![
            PathAttribute::Med(10),
            PathAttribute::LocalPref(300),
            PathAttribute::Communities(vec![community(65000, 10100)]),
            PathAttribute::OriginatorId(vtep(9)),
            PathAttribute::ClusterList(vec![vtep(10)]),
            ext(vec![
                rt_l2,
                vxlan,
                // An opaque extended community with a subtype nobody assigned.
                kind(ExtCommunityKind::Unknown([
                    0x03, 0xee, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                ])),
            ]),
            PathAttribute::LargeCommunities(vec![LargeCommunity {
                global: 65000,
                local1: 10100,
                local2: 1,
            }]),
        ],
    );
    u.partial = partial;
    v.push(Case::new("evpn-t2-ibgp-attributes", ctx::ibgp(), upd(u)));

    // Withdrawals: one of each route type in MP_UNREACH_NLRI.
    let withdrawn = vec![
        evpn(EvpnRoute::EthernetAd(EthernetAdRoute {
            rd: RouteDistinguisher::ipv4(vtep(1), 1),
            esi: esi_lacp(mac(0xaa, 0, 1), 0x1234),
            ethernet_tag: MAX_ETHERNET_TAG,
            label: Label::from_raw(0),
        })),
        evpn(EvpnRoute::MacIp(MacIpRoute {
            rd: rd_v1,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: mac(0, 1, 1),
            ip: None,
            label1: vni(10100),
            label2: None,
        })),
        evpn(EvpnRoute::MacIp(MacIpRoute {
            rd: rd_as2,
            esi: Esi::ZERO,
            ethernet_tag: 100,
            mac: mac(0, 1, 2),
            ip: Some(ip4(192, 0, 2, 10)),
            label1: vni(10100),
            label2: Some(vni(50001)),
        })),
        evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
            rd: rd_v1,
            ethernet_tag: 0,
            originator: IpAddr::V4(vtep(1)),
        })),
        evpn(EvpnRoute::EthernetSegment(EthernetSegmentRoute {
            rd: RouteDistinguisher::ipv4(vtep(1), 0),
            esi: esi_router_id(vtep(1), 77),
            originator: IpAddr::V6(vtep6(1)),
        })),
        evpn(EvpnRoute::IpPrefix(IpPrefixRoute {
            rd: RouteDistinguisher::as2(65000, 50001),
            esi: Esi::ZERO,
            ethernet_tag: 0,
            prefix_len: 24,
            prefix: ip4(203, 0, 113, 0),
            gateway: ip4(198, 51, 100, 1),
            label: vni(50001),
        })),
    ];
    v.push(Case::new(
        "evpn-withdraw-all-types",
        ctx::ibgp(),
        upd(Update {
            mp_unreach: Some(MpUnreach::new(Family::L2VPN_EVPN, withdrawn)),
            ..Update::default()
        }),
    ));
    // Withdrawal and announcement in one UPDATE (MP_UNREACH then MP_REACH).
    let mut both = evpn_update(
        IpAddr::V4(vtep(1)),
        vec![evpn(EvpnRoute::MacIp(MacIpRoute {
            rd: rd_v1,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: mac(0, 1, 6),
            ip: None,
            label1: vni(10100),
            label2: None,
        }))],
        vec![ext(vec![rt_l2, vxlan])],
    );
    both.mp_unreach = Some(MpUnreach::new(
        Family::L2VPN_EVPN,
        vec![evpn(EvpnRoute::MacIp(MacIpRoute {
            rd: rd_v1,
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: mac(0, 1, 7),
            ip: None,
            label1: vni(10100),
            label2: None,
        }))],
    ));
    v.push(Case::new(
        "evpn-withdraw-and-announce",
        ctx::ibgp(),
        upd(both),
    ));
}

fn unicast_updates(v: &mut Vec<Case>) {
    // IPv4 unicast in the classic fields, with every attribute of an iBGP route reflector path,
    // an AS_PATH with all four segment types and an unknown optional transitive attribute that
    // carries the Partial bit.
    let as_path = AsPath {
        segments: vec![
            AsSegment {
                kind: SegmentType::ConfedSequence,
                asns: vec![64512, 64513],
            },
            AsSegment {
                kind: SegmentType::ConfedSet,
                asns: vec![64514, 64515],
            },
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![65001, BIG_AS],
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: vec![65010, 65011, BIG_AS + 1],
            },
        ],
    };
    let attrs = vec![
        PathAttribute::Origin(Origin::Incomplete),
        PathAttribute::AsPath(as_path),
        PathAttribute::NextHop(vtep(1)),
        PathAttribute::Med(50),
        PathAttribute::LocalPref(200),
        PathAttribute::AtomicAggregate,
        PathAttribute::Aggregator(Aggregator {
            asn: BIG_AS,
            address: vtep(9),
        }),
        PathAttribute::Communities(vec![
            community(65000, 1),
            Community::NO_EXPORT,
            Community::NO_ADVERTISE,
        ]),
        PathAttribute::OriginatorId(vtep(3)),
        PathAttribute::ClusterList(vec![vtep(4), vtep(5)]),
        PathAttribute::LargeCommunities(vec![
            LargeCommunity {
                global: BIG_AS,
                local1: 1,
                local2: 2,
            },
            LargeCommunity {
                global: 65000,
                local1: 3,
                local2: 4,
            },
        ]),
        PathAttribute::Unknown(UnknownAttribute {
            flags: 0xe0,    // optional, transitive, partial
            type_code: 200, // unassigned (IANA "BGP Path Attributes")
            value: vec![0xde, 0xad, 0xbe, 0xef],
        }),
    ];
    v.push(Case::new(
        "ipv4-classic-all-attributes",
        ctx::ibgp(),
        upd(Update {
            withdrawn: vec![ipv4("198.51.100.0/24"), ipv4("203.0.113.64/26")],
            attributes: attrs,
            nlri: vec![
                ipv4("192.0.2.0/24"),
                ipv4("203.0.113.128/25"),
                ipv4("203.0.113.7/32"),
            ],
            ..Update::default()
        }),
    ));
    // A 2-octet AS session: AS_TRANS in AS_PATH/AGGREGATOR, the real path in AS4_PATH and
    // AS4_AGGREGATOR (RFC 6793 §4.2.2).
    v.push(Case::new(
        "ipv4-two-octet-as4-path",
        ctx::two_octet_ebgp(),
        upd(Update {
            attributes: vec![
                PathAttribute::Origin(Origin::Egp),
                PathAttribute::AsPath(AsPath::sequence(vec![65001, u32::from(AS_TRANS)])),
                PathAttribute::NextHop(vtep(7)),
                PathAttribute::Med(0),
                PathAttribute::Aggregator(Aggregator {
                    asn: u32::from(AS_TRANS),
                    address: vtep(9),
                }),
                PathAttribute::As4Path(AsPath::sequence(vec![65001, BIG_AS])),
                PathAttribute::As4Aggregator(Aggregator {
                    asn: BIG_AS,
                    address: vtep(9),
                }),
            ],
            nlri: vec![ipv4("198.51.100.0/24")],
            ..Update::default()
        }),
    ));
    // Only to Customer (RFC 9234 §5), as a provider marks a route it sends to a customer.
    v.push(Case::new(
        "ipv4-only-to-customer",
        ctx::ebgp(),
        upd(Update {
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence(vec![LOCAL_AS, 65001])),
                PathAttribute::NextHop(vtep(1)),
                PathAttribute::OnlyToCustomer(65001),
            ],
            nlri: vec![ipv4("203.0.113.0/24")],
            ..Update::default()
        }),
    ));
    // Over 255 bytes of COMMUNITIES: the extended-length attribute form (RFC 4271 §4.3).
    v.push(Case::new(
        "ipv4-extended-length-communities",
        ctx::ebgp(),
        upd(Update {
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence(vec![LOCAL_AS])),
                PathAttribute::NextHop(vtep(1)),
                PathAttribute::Communities((1..=100).map(|i| community(65000, i)).collect()),
            ],
            nlri: vec![ipv4("192.0.2.128/25")],
            ..Update::default()
        }),
    ));
    // IPv4 withdrawal only, classic field.
    v.push(Case::new(
        "ipv4-classic-withdraw",
        ctx::ibgp(),
        upd(Update {
            withdrawn: vec![ipv4("192.0.2.0/24"), ipv4("203.0.113.0/24")],
            ..Update::default()
        }),
    ));
    // The default route travels alone: a zero-length prefix among others makes Wireshark's
    // ADD-PATH heuristic (packet-bgp.c, detect_add_path_prefix4) guess path identifiers.
    v.push(Case::new(
        "ipv4-default-route",
        ctx::ebgp(),
        upd(Update {
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence(vec![LOCAL_AS])),
                PathAttribute::NextHop(vtep(1)),
            ],
            nlri: vec![ipv4("0.0.0.0/0")],
            ..Update::default()
        }),
    ));
    v.push(Case::new(
        "ipv4-default-route-withdraw",
        ctx::ebgp(),
        upd(Update {
            withdrawn: vec![ipv4("0.0.0.0/0")],
            ..Update::default()
        }),
    ));
    // IPv6 unicast in MP_REACH_NLRI with a global and a link-local next hop.
    v.push(Case::new(
        "ipv6-mp-reach-link-local",
        ctx::ebgp(),
        upd(Update {
            mp_reach: Some(MpReach::new(
                Family::IPV6_UNICAST,
                NextHop::Ipv6 {
                    global: vtep6(1),
                    link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
                },
                vec![
                    ipv6("2001:db8:100::/48"),
                    ipv6("2001:db8::/32"),
                    ipv6("2001:db8:200::1/128"),
                    ipv6("::/0"),
                ],
            )),
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence(vec![LOCAL_AS, BIG_AS])),
                PathAttribute::Med(20),
            ],
            ..Update::default()
        }),
    ));
    // IPv6 unicast with a global next hop only.
    v.push(Case::new(
        "ipv6-mp-reach-global",
        ctx::ibgp(),
        upd(Update {
            mp_reach: Some(MpReach::new(
                Family::IPV6_UNICAST,
                NextHop::from_ip(IpAddr::V6(vtep6(2))),
                vec![ipv6("2001:db8:300::/40")],
            )),
            attributes: local_origin(),
            ..Update::default()
        }),
    ));
    // IPv6 address specific extended communities (RFC 5701): route target, route origin and a
    // non-transitive one of an unassigned sub-type, received with the Partial bit.
    let mut partial = AttrSet::default();
    partial.insert(evpnd_wire::attribute::attr_type::IPV6_EXTENDED_COMMUNITIES);
    let mut other = [0u8; 20];
    other[..2].copy_from_slice(&[0x40, 0x7f]);
    other[2..18].copy_from_slice(&vtep6(3).octets());
    other[18..].copy_from_slice(&[0x12, 0x34]);
    v.push(Case::new(
        "ipv6-address-specific-extended-communities",
        ctx::ibgp(),
        upd(Update {
            mp_reach: Some(MpReach::new(
                Family::IPV6_UNICAST,
                NextHop::from_ip(IpAddr::V6(vtep6(2))),
                vec![ipv6("2001:db8:400::/48")],
            )),
            attributes: [
                local_origin(),
                vec![PathAttribute::Ipv6ExtendedCommunities(vec![
                    Ipv6ExtendedCommunity::new(Ipv6ExtCommunityKind::RouteTarget {
                        addr: vtep6(1),
                        value: 100,
                    }),
                    Ipv6ExtendedCommunity::new(Ipv6ExtCommunityKind::RouteOrigin {
                        addr: vtep6(2),
                        value: 7,
                    }),
                    Ipv6ExtendedCommunity(other),
                ])],
            ]
            .concat(),
            partial,
            ..Update::default()
        }),
    ));
    v.push(Case::new(
        "ipv6-mp-unreach",
        ctx::ibgp(),
        upd(Update {
            mp_unreach: Some(MpUnreach::new(
                Family::IPV6_UNICAST,
                vec![ipv6("2001:db8:100::/48"), ipv6("::/0")],
            )),
            ..Update::default()
        }),
    ));
}

/// The 8 bytes of a route target, for RT-Constraint NLRI.
pub fn rt_bytes(r: RouteTarget) -> [u8; 8] {
    rt(r).0
}

fn rtc_updates(v: &mut Vec<Case>) {
    let members = vec![
        Nlri::new(Route::RtConstraint(RtMembership::Default)),
        Nlri::new(Route::RtConstraint(RtMembership::exact(
            LOCAL_AS,
            rt_bytes(RouteTarget::As2 {
                asn: 65000,
                value: 10100,
            }),
        ))),
        Nlri::new(Route::RtConstraint(RtMembership::exact(
            BIG_AS,
            rt_bytes(RouteTarget::Ipv4 {
                addr: vtep(1),
                value: 100,
            }),
        ))),
        // Partial: type, subtype and the 2-octet AS of the RT (48 bits).
        Nlri::new(Route::RtConstraint(
            RtMembership::partial(
                LOCAL_AS,
                48,
                rt_bytes(RouteTarget::As2 {
                    asn: 65000,
                    value: 0,
                }),
            )
            .unwrap_or_else(|| panic!("48-bit RT prefix")),
        )),
    ];
    v.push(Case::new(
        "rtc-default-full-partial",
        ctx::ibgp(),
        upd(Update {
            mp_reach: Some(MpReach::new(
                Family::RT_CONSTRAINT,
                NextHop::Ipv4(vtep(1)),
                members,
            )),
            attributes: local_origin(),
            ..Update::default()
        }),
    ));
    v.push(Case::new(
        "rtc-withdraw",
        ctx::ibgp(),
        upd(Update {
            mp_unreach: Some(MpUnreach::new(
                Family::RT_CONSTRAINT,
                vec![Nlri::new(Route::RtConstraint(RtMembership::exact(
                    LOCAL_AS,
                    rt_bytes(RouteTarget::As4 {
                        asn: BIG_AS,
                        value: 9,
                    }),
                )))],
            )),
            ..Update::default()
        }),
    ));
}

fn end_of_ribs(v: &mut Vec<Case>) {
    for (name, family) in [
        ("end-of-rib-ipv4", Family::IPV4_UNICAST),
        ("end-of-rib-evpn", Family::L2VPN_EVPN),
        ("end-of-rib-ipv6", Family::IPV6_UNICAST),
        ("end-of-rib-rtc", Family::RT_CONSTRAINT),
    ] {
        v.push(Case::new(
            name,
            ctx::ibgp(),
            upd(Update::end_of_rib(family)),
        ));
    }
}

fn add_path_updates(v: &mut Vec<Case>) {
    let with_id = |id: u32, mut n: Nlri| {
        n.path_id = Some(id);
        n
    };
    v.push(Case::new(
        "add-path-ipv4-classic",
        ctx::add_path(),
        upd(Update {
            withdrawn: vec![with_id(9, ipv4("203.0.113.0/24"))],
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence(vec![65001])),
                PathAttribute::NextHop(vtep(1)),
            ],
            nlri: vec![
                with_id(1, ipv4("192.0.2.0/24")),
                with_id(2, ipv4("192.0.2.0/24")),
                with_id(0x01020304, ipv4("198.51.100.0/24")),
            ],
            ..Update::default()
        }),
    ));
    v.push(Case::new(
        "add-path-ipv6-mp",
        ctx::add_path(),
        upd(Update {
            mp_reach: Some(MpReach::new(
                Family::IPV6_UNICAST,
                NextHop::from_ip(IpAddr::V6(vtep6(1))),
                vec![
                    with_id(1, ipv6("2001:db8:100::/48")),
                    with_id(2, ipv6("2001:db8:100::/48")),
                ],
            )),
            attributes: local_origin(),
            ..Update::default()
        }),
    ));
    v.push(Case::new(
        "add-path-evpn-t2",
        ctx::add_path(),
        upd(evpn_update(
            IpAddr::V4(vtep(1)),
            vec![
                with_id(
                    1,
                    evpn(EvpnRoute::MacIp(MacIpRoute {
                        rd: RouteDistinguisher::ipv4(vtep(1), 100),
                        esi: Esi::ZERO,
                        ethernet_tag: 0,
                        mac: mac(0, 3, 1),
                        ip: Some(ip4(192, 0, 2, 31)),
                        label1: vni(10100),
                        label2: None,
                    })),
                ),
                with_id(
                    2,
                    evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                        rd: RouteDistinguisher::ipv4(vtep(1), 100),
                        ethernet_tag: 0,
                        originator: IpAddr::V4(vtep(1)),
                    })),
                ),
            ],
            vec![ext(vec![
                rt_as2(65000, 10100),
                ExtendedCommunity::vxlan_encapsulation(),
            ])],
        )),
    ));
}

// ---------------------------------------------------------------------------------------------
// Packed batches.

/// Type-2 route number `i` of a large batch: MAC `02:00:00:xx:xx:xx`; every third route is
/// MAC-only, then MAC + IPv4 (from the three tenant /24s), then MAC + IPv6.
pub fn batch_type2(i: u32) -> Nlri {
    let b = i.to_be_bytes();
    let tenants = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
    let ip = match i % 3 {
        0 => None,
        1 => {
            let t = tenants[(i as usize / 256) % 3];
            Some(ip4(t[0], t[1], t[2], b[3]))
        }
        _ => Some(ip6([
            0x2001,
            0xdb8,
            0x100,
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ])),
    };
    evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: RouteDistinguisher::ipv4(vtep(1), 100 + (i % 4) as u16),
        esi: Esi::ZERO,
        ethernet_tag: 0,
        mac: mac(b[1], b[2], b[3]),
        ip,
        label1: vni(10_000 + i % 50),
        label2: None,
    }))
}

/// Every prefix of length 24 to 32 inside the three IPv4 tenant /24s (1,533 prefixes).
pub fn tenant_subnets() -> Vec<IpPrefix> {
    let mut v = Vec::new();
    for t in [[192u8, 0, 2], [198, 51, 100], [203, 0, 113]] {
        for len in 24u8..=32 {
            let step = 1usize << (32 - len);
            for host in (0..256).step_by(step) {
                let addr = ip4(t[0], t[1], t[2], host as u8);
                v.push(IpPrefix::new(addr, len).unwrap_or_else(|| panic!("/{len}")));
            }
        }
    }
    v
}

/// Large route batches for [`UpdatePacker`]: 2,000 EVPN type-2 routes in 4096-byte messages,
/// 4,000 in 65535-byte messages (RFC 8654), their withdrawal, and 1,533 IPv4 prefixes
/// announced and withdrawn in the classic fields.
pub fn packed_batches() -> Vec<Batch> {
    let evpn_attrs = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::default()),
        ext(vec![
            rt_as2(65000, 10100),
            ExtendedCommunity::vxlan_encapsulation(),
        ]),
    ];
    let t2_2000: Vec<Nlri> = (0..2000).map(batch_type2).collect();
    let t2_4000: Vec<Nlri> = (0..4000).map(batch_type2).collect();
    let subnets: Vec<Nlri> = tenant_subnets()
        .into_iter()
        .map(|p| Nlri::new(Route::Ipv4(p)))
        .collect();
    vec![
        Batch {
            name: "packed-evpn-t2-2000-in-4096".into(),
            ctx: ctx::ibgp(),
            family: Family::L2VPN_EVPN,
            action: BatchAction::Announce {
                next_hop: NextHop::Ipv4(vtep(1)),
                attributes: evpn_attrs.clone(),
                partial: AttrSet::default(),
            },
            routes: t2_2000.clone(),
        },
        Batch {
            name: "packed-evpn-t2-4000-in-65535".into(),
            ctx: ctx::extended(),
            family: Family::L2VPN_EVPN,
            action: BatchAction::Announce {
                next_hop: NextHop::Ipv4(vtep(1)),
                attributes: evpn_attrs,
                partial: AttrSet::default(),
            },
            routes: t2_4000,
        },
        Batch {
            name: "packed-evpn-t2-2000-withdraw".into(),
            ctx: ctx::ibgp(),
            family: Family::L2VPN_EVPN,
            action: BatchAction::Withdraw,
            routes: t2_2000,
        },
        Batch {
            name: "packed-ipv4-1533-subnets".into(),
            ctx: ctx::ebgp(),
            family: Family::IPV4_UNICAST,
            action: BatchAction::Announce {
                next_hop: NextHop::Ipv4(vtep(1)),
                attributes: vec![
                    PathAttribute::Origin(Origin::Igp),
                    PathAttribute::AsPath(AsPath::sequence(vec![LOCAL_AS])),
                    PathAttribute::NextHop(vtep(1)),
                ],
                partial: AttrSet::default(),
            },
            routes: subnets.clone(),
        },
        Batch {
            name: "packed-ipv4-1533-subnets-withdraw".into(),
            ctx: ctx::ebgp(),
            family: Family::IPV4_UNICAST,
            action: BatchAction::Withdraw,
            routes: subnets,
        },
    ]
}
