//! Communities: standard (RFC 1997), large (RFC 8092), extended (RFC 4360) and IPv6 address
//! specific extended (RFC 5701), with the EVPN extended communities of RFC 7432 §7, RFC 8365,
//! RFC 8214, RFC 8584, RFC 9047 and RFC 9135.
//!
//! An extended community is kept as its 8 wire bytes (20 for the IPv6 address specific form):
//! that is exact to round-trip, cheap to copy, hash and compare (route-target filtering
//! compares bytes), and the typed views [`ExtendedCommunity::kind`] and
//! [`Ipv6ExtendedCommunity::kind`] are computed on demand.

use crate::types::{Label, MacAddress};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A standard community (RFC 1997): 32 bits, usually shown as `asn:value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// A large community (RFC 8092): `global:local1:local2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an AS number).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

/// An extended community (RFC 4360 §2), as its 8 wire bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

/// Tunnel types of the BGP encapsulation extended community (IANA "BGP Tunnel Encapsulation
/// Attribute Tunnel Types", RFC 9012 §4.1, RFC 8365 §5.1.3).
pub mod tunnel_type {
    /// VXLAN.
    pub const VXLAN: u16 = 8;
    /// NVGRE.
    pub const NVGRE: u16 = 9;
    /// MPLS.
    pub const MPLS: u16 = 10;
    /// MPLS in GRE.
    pub const MPLS_IN_GRE: u16 = 11;
    /// VXLAN-GPE.
    pub const VXLAN_GPE: u16 = 12;
    /// MPLS in UDP.
    pub const MPLS_IN_UDP: u16 = 13;
    /// Geneve.
    pub const GENEVE: u16 = 19;
}

/// The three forms of a route target (RFC 4360 §4, RFC 5668 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// Type 0x00: 2-octet AS, 4-octet value (the form EVPN auto-derives: ASN:VNI).
    As2 {
        /// Global administrator.
        asn: u16,
        /// Local administrator.
        value: u32,
    },
    /// Type 0x01: IPv4 address, 2-octet value.
    Ipv4 {
        /// Global administrator.
        addr: Ipv4Addr,
        /// Local administrator.
        value: u16,
    },
    /// Type 0x02: 4-octet AS, 2-octet value.
    As4 {
        /// Global administrator.
        asn: u32,
        /// Local administrator.
        value: u16,
    },
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::As2 { asn, value } => write!(f, "{asn}:{value}"),
            RouteTarget::Ipv4 { addr, value } => write!(f, "{addr}:{value}"),
            RouteTarget::As4 { asn, value } => write!(f, "{asn}L:{value}"),
        }
    }
}

impl std::str::FromStr for RouteTarget {
    type Err = crate::types::ParseValueError;

    /// Parses `asn:value` (4-octet form when the AS exceeds 16 bits or ends in `L`) and
    /// `a.b.c.d:value`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::types::ParseValueError(format!("invalid route target {s:?}"));
        let (admin, value) = s.rsplit_once(':').ok_or_else(bad)?;
        if let Ok(addr) = admin.parse::<Ipv4Addr>() {
            return Ok(RouteTarget::Ipv4 {
                addr,
                value: value.parse().map_err(|_| bad())?,
            });
        }
        let (admin, long) = match admin.strip_suffix('L') {
            Some(a) => (a, true),
            None => (admin, false),
        };
        let asn: u32 = admin.parse().map_err(|_| bad())?;
        match u16::try_from(asn) {
            Ok(asn) if !long => Ok(RouteTarget::As2 {
                asn,
                value: value.parse().map_err(|_| bad())?,
            }),
            _ => Ok(RouteTarget::As4 {
                asn,
                value: value.parse().map_err(|_| bad())?,
            }),
        }
    }
}

/// The typed view of an extended community.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtCommunityKind {
    /// Route target (RFC 4360 §4).
    RouteTarget(RouteTarget),
    /// BGP encapsulation (RFC 9012 §4.1): the tunnel type; VXLAN is 8 (RFC 8365 §5.1.3).
    Encapsulation {
        /// Tunnel type (see [`tunnel_type`]).
        tunnel_type: u16,
    },
    /// MAC mobility (RFC 7432 §7.7): sequence number and sticky (static) flag.
    MacMobility {
        /// Sequence number.
        sequence: u32,
        /// The MAC is static and must not move.
        sticky: bool,
    },
    /// ESI label (RFC 7432 §7.5).
    EsiLabel {
        /// The segment is single-active (otherwise all-active).
        single_active: bool,
        /// Split-horizon label.
        label: Label,
    },
    /// ES-import route target (RFC 7432 §7.6).
    EsImportRouteTarget(MacAddress),
    /// EVPN router's MAC (RFC 9135 §8.1).
    RouterMac(MacAddress),
    /// Layer 2 attributes (RFC 8214 §3.1).
    Layer2Attributes {
        /// Control flags.
        control_flags: u16,
        /// Layer 2 MTU.
        l2_mtu: u16,
    },
    /// DF election (RFC 8584 §3.2).
    DfElection {
        /// DF election algorithm (0 default/modulus, 1 highest random weight, ...).
        algorithm: u8,
        /// Capability bitmap (bit 1 = AC-influenced DF election).
        bitmap: u16,
    },
    /// ARP/ND (RFC 9047 §3.1; flag bits as FRR sends them).
    ArpNd {
        /// Router flag (R, 0x01): the IP belongs to a router (ND only).
        router: bool,
        /// Override flag (O, 0x02).
        override_flag: bool,
        /// Proxy flag (0x04, as used by FRR for proxied entries).
        proxy: bool,
        /// Immutable ARP/ND binding flag (I, 0x08): a static binding (RFC 9047 §3.1).
        immutable: bool,
    },
    /// Default gateway (RFC 7432 §7.8).
    DefaultGateway,
    /// Anything else, left as bytes.
    Unknown([u8; 8]),
}

impl ExtendedCommunity {
    /// The community for `kind`.
    pub fn new(kind: ExtCommunityKind) -> Self {
        let mut b = [0u8; 8];
        match kind {
            ExtCommunityKind::RouteTarget(RouteTarget::As2 { asn, value }) => {
                b[..2].copy_from_slice(&[0x00, 0x02]);
                b[2..4].copy_from_slice(&asn.to_be_bytes());
                b[4..].copy_from_slice(&value.to_be_bytes());
            }
            ExtCommunityKind::RouteTarget(RouteTarget::Ipv4 { addr, value }) => {
                b[..2].copy_from_slice(&[0x01, 0x02]);
                b[2..6].copy_from_slice(&addr.octets());
                b[6..].copy_from_slice(&value.to_be_bytes());
            }
            ExtCommunityKind::RouteTarget(RouteTarget::As4 { asn, value }) => {
                b[..2].copy_from_slice(&[0x02, 0x02]);
                b[2..6].copy_from_slice(&asn.to_be_bytes());
                b[6..].copy_from_slice(&value.to_be_bytes());
            }
            ExtCommunityKind::Encapsulation { tunnel_type } => {
                b[..2].copy_from_slice(&[0x03, 0x0c]);
                b[6..].copy_from_slice(&tunnel_type.to_be_bytes());
            }
            ExtCommunityKind::MacMobility { sequence, sticky } => {
                b[..2].copy_from_slice(&[0x06, 0x00]);
                b[2] = u8::from(sticky);
                b[4..].copy_from_slice(&sequence.to_be_bytes());
            }
            ExtCommunityKind::EsiLabel {
                single_active,
                label,
            } => {
                b[..2].copy_from_slice(&[0x06, 0x01]);
                b[2] = u8::from(single_active);
                b[5..].copy_from_slice(&label.to_bytes());
            }
            ExtCommunityKind::EsImportRouteTarget(mac) => {
                b[..2].copy_from_slice(&[0x06, 0x02]);
                b[2..].copy_from_slice(&mac.0);
            }
            ExtCommunityKind::RouterMac(mac) => {
                b[..2].copy_from_slice(&[0x06, 0x03]);
                b[2..].copy_from_slice(&mac.0);
            }
            ExtCommunityKind::Layer2Attributes {
                control_flags,
                l2_mtu,
            } => {
                b[..2].copy_from_slice(&[0x06, 0x04]);
                b[2..4].copy_from_slice(&control_flags.to_be_bytes());
                b[4..6].copy_from_slice(&l2_mtu.to_be_bytes());
            }
            ExtCommunityKind::DfElection { algorithm, bitmap } => {
                b[..2].copy_from_slice(&[0x06, 0x06]);
                b[2] = algorithm & 0x1f;
                b[3..5].copy_from_slice(&bitmap.to_be_bytes());
            }
            ExtCommunityKind::ArpNd {
                router,
                override_flag,
                proxy,
                immutable,
            } => {
                b[..2].copy_from_slice(&[0x06, 0x08]);
                b[2] = (u8::from(immutable) << 3)
                    | (u8::from(proxy) << 2)
                    | (u8::from(override_flag) << 1)
                    | u8::from(router);
            }
            ExtCommunityKind::DefaultGateway => {
                b[..2].copy_from_slice(&[0x03, 0x0d]);
            }
            ExtCommunityKind::Unknown(raw) => b = raw,
        }
        ExtendedCommunity(b)
    }

    /// The route target `rt` as an extended community.
    pub fn route_target(rt: RouteTarget) -> Self {
        Self::new(ExtCommunityKind::RouteTarget(rt))
    }

    /// The BGP encapsulation community for VXLAN (RFC 8365 §5.1.3).
    pub fn vxlan_encapsulation() -> Self {
        Self::new(ExtCommunityKind::Encapsulation {
            tunnel_type: tunnel_type::VXLAN,
        })
    }

    /// The type octet (high-order, RFC 4360 §2).
    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    /// The sub-type octet.
    pub fn subtype(&self) -> u8 {
        self.0[1]
    }

    /// True for a route target of any form.
    pub fn is_route_target(&self) -> bool {
        matches!(self.0[0], 0x00..=0x02) && self.0[1] == 0x02
    }

    /// The typed view. Reserved bits that are set do not change the view; the bytes are kept.
    pub fn kind(&self) -> ExtCommunityKind {
        let b = &self.0;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mac = || MacAddress([b[2], b[3], b[4], b[5], b[6], b[7]]);
        match (b[0], b[1]) {
            (0x00, 0x02) => ExtCommunityKind::RouteTarget(RouteTarget::As2 {
                asn: u16_at(2),
                value: u32_at(4),
            }),
            (0x01, 0x02) => ExtCommunityKind::RouteTarget(RouteTarget::Ipv4 {
                addr: Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                value: u16_at(6),
            }),
            (0x02, 0x02) => ExtCommunityKind::RouteTarget(RouteTarget::As4 {
                asn: u32_at(2),
                value: u16_at(6),
            }),
            (0x03, 0x0c) => ExtCommunityKind::Encapsulation {
                tunnel_type: u16_at(6),
            },
            (0x03, 0x0d) => ExtCommunityKind::DefaultGateway,
            (0x06, 0x00) => ExtCommunityKind::MacMobility {
                sequence: u32_at(4),
                sticky: b[2] & 0x01 != 0,
            },
            (0x06, 0x01) => ExtCommunityKind::EsiLabel {
                single_active: b[2] & 0x01 != 0,
                label: Label::from_raw(u32::from_be_bytes([0, b[5], b[6], b[7]])),
            },
            (0x06, 0x02) => ExtCommunityKind::EsImportRouteTarget(mac()),
            (0x06, 0x03) => ExtCommunityKind::RouterMac(mac()),
            (0x06, 0x04) => ExtCommunityKind::Layer2Attributes {
                control_flags: u16_at(2),
                l2_mtu: u16_at(4),
            },
            (0x06, 0x06) => ExtCommunityKind::DfElection {
                algorithm: b[2] & 0x1f,
                bitmap: u16_at(3),
            },
            (0x06, 0x08) => ExtCommunityKind::ArpNd {
                router: b[2] & 0x01 != 0,
                override_flag: b[2] & 0x02 != 0,
                proxy: b[2] & 0x04 != 0,
                immutable: b[2] & 0x08 != 0,
            },
            _ => ExtCommunityKind::Unknown(*b),
        }
    }
}

impl From<ExtCommunityKind> for ExtendedCommunity {
    fn from(k: ExtCommunityKind) -> Self {
        ExtendedCommunity::new(k)
    }
}

impl From<RouteTarget> for ExtendedCommunity {
    fn from(rt: RouteTarget) -> Self {
        ExtendedCommunity::route_target(rt)
    }
}

impl fmt::Debug for ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind())
    }
}

/// The one short text form of an extended community, used wherever one is shown (the API's
/// route listings, `evpnctl`, the decode JSON's `text`): `rt 65000:100`, `encap vxlan`,
/// `mac-mobility seq 1 sticky`, `esi-label 100 single-active`, `es-import 02:..`,
/// `router-mac 02:..`, `l2-attributes flags 0x0000 mtu 1500`, `df-election alg 0 bitmap
/// 0x0000`, `arp-nd override,immutable`, `default-gateway`, or `0x` and the 16 hex digits of
/// any other community.
impl fmt::Display for ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            ExtCommunityKind::RouteTarget(rt) => write!(f, "rt {rt}"),
            ExtCommunityKind::Encapsulation { tunnel_type } => match tunnel_type {
                tunnel_type::VXLAN => f.write_str("encap vxlan"),
                tunnel_type::NVGRE => f.write_str("encap nvgre"),
                tunnel_type::MPLS => f.write_str("encap mpls"),
                t => write!(f, "encap {t}"),
            },
            ExtCommunityKind::MacMobility { sequence, sticky } => {
                let sticky = if sticky { " sticky" } else { "" };
                write!(f, "mac-mobility seq {sequence}{sticky}")
            }
            ExtCommunityKind::EsiLabel {
                single_active,
                label,
            } => {
                let mode = if single_active {
                    "single-active"
                } else {
                    "all-active"
                };
                write!(f, "esi-label {} {mode}", label.raw())
            }
            ExtCommunityKind::EsImportRouteTarget(mac) => write!(f, "es-import {mac}"),
            ExtCommunityKind::RouterMac(mac) => write!(f, "router-mac {mac}"),
            ExtCommunityKind::Layer2Attributes {
                control_flags,
                l2_mtu,
            } => write!(f, "l2-attributes flags {control_flags:#06x} mtu {l2_mtu}"),
            ExtCommunityKind::DfElection { algorithm, bitmap } => {
                write!(f, "df-election alg {algorithm} bitmap {bitmap:#06x}")
            }
            ExtCommunityKind::ArpNd {
                router,
                override_flag,
                proxy,
                immutable,
            } => {
                let names = [
                    (router, "router"),
                    (override_flag, "override"),
                    (proxy, "proxy"),
                    (immutable, "immutable"),
                ];
                let set: Vec<&str> = names
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, n)| *n)
                    .collect();
                write!(f, "arp-nd {}", set.join(","))
            }
            ExtCommunityKind::DefaultGateway => f.write_str("default-gateway"),
            ExtCommunityKind::Unknown(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
        }
    }
}

/// An IPv6 Address Specific Extended Community (RFC 5701 §2), as its 20 wire bytes: type
/// (high octet: 0x00 transitive, 0x40 non-transitive), sub-type, a 16-octet IPv6 global
/// administrator and a 2-octet local administrator.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6ExtendedCommunity(pub [u8; 20]);

/// The typed view of an IPv6 address specific extended community (RFC 5701 §2, IANA
/// "Transitive IPv6-Address-Specific Extended Community Sub-Types").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6ExtCommunityKind {
    /// Route target (type 0x00, sub-type 0x02): the RFC 4360 §4 route target with an IPv6
    /// global administrator.
    RouteTarget {
        /// Global administrator.
        addr: Ipv6Addr,
        /// Local administrator.
        value: u16,
    },
    /// Route origin (type 0x00, sub-type 0x03), likewise (RFC 4360 §5).
    RouteOrigin {
        /// Global administrator.
        addr: Ipv6Addr,
        /// Local administrator.
        value: u16,
    },
    /// Anything else, left as bytes.
    Unknown([u8; 20]),
}

impl Ipv6ExtendedCommunity {
    /// The community for `kind`.
    pub fn new(kind: Ipv6ExtCommunityKind) -> Self {
        let (subtype, addr, value) = match kind {
            Ipv6ExtCommunityKind::RouteTarget { addr, value } => (0x02, addr, value),
            Ipv6ExtCommunityKind::RouteOrigin { addr, value } => (0x03, addr, value),
            Ipv6ExtCommunityKind::Unknown(raw) => return Ipv6ExtendedCommunity(raw),
        };
        let mut b = [0u8; 20];
        b[1] = subtype;
        b[2..18].copy_from_slice(&addr.octets());
        b[18..].copy_from_slice(&value.to_be_bytes());
        Ipv6ExtendedCommunity(b)
    }

    /// The type octet (high-order, RFC 5701 §2).
    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    /// The sub-type octet.
    pub fn subtype(&self) -> u8 {
        self.0[1]
    }

    /// False when the type octet has the non-transitive bit (0x40, RFC 4360 §2): such a
    /// community does not leave the AS.
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }

    /// The typed view.
    pub fn kind(&self) -> Ipv6ExtCommunityKind {
        let b = &self.0;
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[2..18]);
        let addr = Ipv6Addr::from(a);
        let value = u16::from_be_bytes([b[18], b[19]]);
        match (b[0], b[1]) {
            (0x00, 0x02) => Ipv6ExtCommunityKind::RouteTarget { addr, value },
            (0x00, 0x03) => Ipv6ExtCommunityKind::RouteOrigin { addr, value },
            _ => Ipv6ExtCommunityKind::Unknown(*b),
        }
    }
}

impl From<Ipv6ExtCommunityKind> for Ipv6ExtendedCommunity {
    fn from(k: Ipv6ExtCommunityKind) -> Self {
        Ipv6ExtendedCommunity::new(k)
    }
}

impl fmt::Debug for Ipv6ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind())
    }
}

/// The text form of an IPv6 global administrator and a local administrator,
/// `[2001:db8::1]:100`: the address is bracketed (RFC 5952 §6) so that the number after the
/// last colon cannot be read as part of it.
pub(crate) fn ipv6_admin_text(addr: Ipv6Addr, value: u16) -> String {
    format!("[{addr}]:{value}")
}

/// `rt [2001:db8::1]:100`, `route-origin [2001:db8::1]:100`, or `0x` and the 40 hex digits of
/// any other community.
impl fmt::Display for Ipv6ExtendedCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Ipv6ExtCommunityKind::RouteTarget { addr, value } => {
                write!(f, "rt {}", ipv6_admin_text(addr, value))
            }
            Ipv6ExtCommunityKind::RouteOrigin { addr, value } => {
                write!(f, "route-origin {}", ipv6_admin_text(addr, value))
            }
            Ipv6ExtCommunityKind::Unknown(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_layouts() {
        let rt = ExtendedCommunity::route_target(RouteTarget::As2 {
            asn: 65000,
            value: 100,
        });
        assert_eq!(rt.0, [0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100]);
        assert!(rt.is_route_target());
        assert_eq!(
            ExtendedCommunity::vxlan_encapsulation().0,
            [0x03, 0x0c, 0, 0, 0, 0, 0, 8]
        );
        let mm = ExtendedCommunity::new(ExtCommunityKind::MacMobility {
            sequence: 5,
            sticky: true,
        });
        assert_eq!(mm.0, [0x06, 0x00, 0x01, 0, 0, 0, 0, 5]);
        assert_eq!(
            "65000:100".parse::<RouteTarget>().unwrap(),
            RouteTarget::As2 {
                asn: 65000,
                value: 100
            }
        );
        assert_eq!(
            "4200000000:1".parse::<RouteTarget>().unwrap().to_string(),
            "4200000000L:1"
        );
    }

    /// The text form, kind by kind (the strings the API's route listings have always shown).
    #[test]
    fn ext_community_text() {
        let mac = MacAddress([0x02, 0, 0, 0, 0, 0xfe]);
        let cases = [
            (
                ExtCommunityKind::RouteTarget(RouteTarget::As2 {
                    asn: 65000,
                    value: 100,
                }),
                "rt 65000:100",
            ),
            (
                ExtCommunityKind::RouteTarget(RouteTarget::Ipv4 {
                    addr: Ipv4Addr::new(198, 19, 0, 1),
                    value: 7,
                }),
                "rt 198.19.0.1:7",
            ),
            (
                ExtCommunityKind::RouteTarget(RouteTarget::As4 {
                    asn: 4_200_000_000,
                    value: 7,
                }),
                "rt 4200000000L:7",
            ),
            (
                ExtCommunityKind::Encapsulation {
                    tunnel_type: tunnel_type::VXLAN,
                },
                "encap vxlan",
            ),
            (
                ExtCommunityKind::Encapsulation {
                    tunnel_type: tunnel_type::NVGRE,
                },
                "encap nvgre",
            ),
            (
                ExtCommunityKind::Encapsulation {
                    tunnel_type: tunnel_type::MPLS,
                },
                "encap mpls",
            ),
            (
                ExtCommunityKind::Encapsulation {
                    tunnel_type: tunnel_type::GENEVE,
                },
                "encap 19",
            ),
            (
                ExtCommunityKind::MacMobility {
                    sequence: 1,
                    sticky: false,
                },
                "mac-mobility seq 1",
            ),
            (
                ExtCommunityKind::MacMobility {
                    sequence: 7,
                    sticky: true,
                },
                "mac-mobility seq 7 sticky",
            ),
            (
                ExtCommunityKind::EsiLabel {
                    single_active: true,
                    label: Label::from_raw(100),
                },
                "esi-label 100 single-active",
            ),
            (
                ExtCommunityKind::EsiLabel {
                    single_active: false,
                    label: Label::from_raw(16),
                },
                "esi-label 16 all-active",
            ),
            (
                ExtCommunityKind::EsImportRouteTarget(mac),
                "es-import 02:00:00:00:00:fe",
            ),
            (
                ExtCommunityKind::RouterMac(mac),
                "router-mac 02:00:00:00:00:fe",
            ),
            (
                ExtCommunityKind::Layer2Attributes {
                    control_flags: 0x0003,
                    l2_mtu: 1500,
                },
                "l2-attributes flags 0x0003 mtu 1500",
            ),
            (
                ExtCommunityKind::DfElection {
                    algorithm: 1,
                    bitmap: 0x8000,
                },
                "df-election alg 1 bitmap 0x8000",
            ),
            (
                ExtCommunityKind::ArpNd {
                    router: true,
                    override_flag: true,
                    proxy: false,
                    immutable: true,
                },
                "arp-nd router,override,immutable",
            ),
            (
                ExtCommunityKind::ArpNd {
                    router: false,
                    override_flag: false,
                    proxy: true,
                    immutable: false,
                },
                "arp-nd proxy",
            ),
            (
                ExtCommunityKind::ArpNd {
                    router: false,
                    override_flag: false,
                    proxy: false,
                    immutable: false,
                },
                "arp-nd ",
            ),
            (ExtCommunityKind::DefaultGateway, "default-gateway"),
            (
                ExtCommunityKind::Unknown([0x43, 0x99, 1, 2, 3, 4, 5, 0xab]),
                "0x43990102030405ab",
            ),
        ];
        for (kind, text) in cases {
            assert_eq!(ExtendedCommunity::new(kind).to_string(), text, "{kind:?}");
        }
    }

    /// RFC 5701 §2: type, sub-type, 16-octet IPv6 global administrator, 2-octet local one.
    #[test]
    fn ipv6_address_specific_layout_and_text() {
        let addr: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let rt = Ipv6ExtendedCommunity::new(Ipv6ExtCommunityKind::RouteTarget { addr, value: 100 });
        let mut want = [0u8; 20];
        want[1] = 0x02;
        want[2..18].copy_from_slice(&addr.octets());
        want[19] = 100;
        assert_eq!(rt.0, want);
        assert!(rt.is_transitive());
        assert_eq!(rt.to_string(), "rt [2001:db8::1]:100");
        let ro = Ipv6ExtendedCommunity::new(Ipv6ExtCommunityKind::RouteOrigin { addr, value: 7 });
        assert_eq!(ro.subtype(), 0x03);
        assert_eq!(ro.to_string(), "route-origin [2001:db8::1]:7");
        // A non-transitive (0x40) sub-type 0x02 is not the route target.
        let mut raw = want;
        raw[0] = 0x40;
        let other = Ipv6ExtendedCommunity(raw);
        assert!(!other.is_transitive());
        assert_eq!(other.kind(), Ipv6ExtCommunityKind::Unknown(raw));
        assert_eq!(
            other.to_string(),
            "0x400220010db80000000000000000000000010064"
        );
    }
}
