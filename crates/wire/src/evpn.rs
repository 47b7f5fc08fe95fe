//! EVPN NLRI: the five route types of RFC 7432 §7 and RFC 9136 §3.
//!
//! Each route travels as `type (1) | length (1) | value`. Lengths are checked per type against
//! the only sizes the RFCs allow, so that a route cannot borrow bytes from its neighbour.

use crate::error::Malformation;
use crate::reader::Reader;
use crate::types::{Esi, Label, MacAddress, RouteDistinguisher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EVPN route type numbers (RFC 7432 §7, RFC 9136 §3).
pub mod route_type {
    /// Ethernet Auto-Discovery.
    pub const ETHERNET_AD: u8 = 1;
    /// MAC/IP Advertisement.
    pub const MAC_IP: u8 = 2;
    /// Inclusive Multicast Ethernet Tag.
    pub const INCLUSIVE_MULTICAST: u8 = 3;
    /// Ethernet Segment.
    pub const ETHERNET_SEGMENT: u8 = 4;
    /// IP Prefix (RFC 9136).
    pub const IP_PREFIX: u8 = 5;
}

/// The MAX-ET Ethernet tag of per-ES Ethernet A-D routes (RFC 7432 §8.2.1).
pub const MAX_ETHERNET_TAG: u32 = u32::MAX;

/// Route type 1, Ethernet Auto-Discovery (RFC 7432 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthernetAdRoute {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment.
    pub esi: Esi,
    /// Ethernet tag (MAX-ET for per-ES routes).
    pub ethernet_tag: u32,
    /// MPLS label / VNI.
    pub label: Label,
}

/// Route type 2, MAC/IP Advertisement (RFC 7432 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacIpRoute {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment (zero when single-homed).
    pub esi: Esi,
    /// Ethernet tag (0 for VLAN-based service).
    pub ethernet_tag: u32,
    /// The MAC address.
    pub mac: MacAddress,
    /// The IP address bound to the MAC, if any.
    pub ip: Option<IpAddr>,
    /// Label 1: the L2VNI for VXLAN.
    pub label1: Label,
    /// Label 2: the L3VNI for symmetric IRB (RFC 9135), if present.
    pub label2: Option<Label>,
}

/// Route type 3, Inclusive Multicast Ethernet Tag (RFC 7432 §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InclusiveMulticastRoute {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet tag.
    pub ethernet_tag: u32,
    /// The originating router's IP address (the VTEP).
    pub originator: IpAddr,
}

/// Route type 4, Ethernet Segment (RFC 7432 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthernetSegmentRoute {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment.
    pub esi: Esi,
    /// The originating router's IP address.
    pub originator: IpAddr,
}

/// Route type 5, IP Prefix (RFC 9136 §3.1).
///
/// The prefix and the gateway are of the same family (the route length says which). The prefix
/// bits beyond `prefix_len` are kept as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpPrefixRoute {
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet segment (overlay index when non-zero).
    pub esi: Esi,
    /// Ethernet tag.
    pub ethernet_tag: u32,
    /// Prefix length in bits (≤ 32 or ≤ 128).
    pub prefix_len: u8,
    /// The prefix address.
    pub prefix: IpAddr,
    /// Gateway IP address (overlay index when non-zero).
    pub gateway: IpAddr,
    /// MPLS label / L3VNI.
    pub label: Label,
}

/// One EVPN route (RFC 7432 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvpnRoute {
    /// Type 1.
    EthernetAd(EthernetAdRoute),
    /// Type 2.
    MacIp(MacIpRoute),
    /// Type 3.
    InclusiveMulticast(InclusiveMulticastRoute),
    /// Type 4.
    EthernetSegment(EthernetSegmentRoute),
    /// Type 5.
    IpPrefix(IpPrefixRoute),
}

impl EvpnRoute {
    /// The route type number.
    pub fn route_type(&self) -> u8 {
        match self {
            EvpnRoute::EthernetAd(_) => route_type::ETHERNET_AD,
            EvpnRoute::MacIp(_) => route_type::MAC_IP,
            EvpnRoute::InclusiveMulticast(_) => route_type::INCLUSIVE_MULTICAST,
            EvpnRoute::EthernetSegment(_) => route_type::ETHERNET_SEGMENT,
            EvpnRoute::IpPrefix(_) => route_type::IP_PREFIX,
        }
    }

    /// The route distinguisher.
    pub fn rd(&self) -> RouteDistinguisher {
        match self {
            EvpnRoute::EthernetAd(r) => r.rd,
            EvpnRoute::MacIp(r) => r.rd,
            EvpnRoute::InclusiveMulticast(r) => r.rd,
            EvpnRoute::EthernetSegment(r) => r.rd,
            EvpnRoute::IpPrefix(r) => r.rd,
        }
    }

    /// Length of the route value in bytes (without the type and length octets).
    pub fn value_len(&self) -> usize {
        match self {
            EvpnRoute::EthernetAd(_) => 25,
            EvpnRoute::MacIp(r) => {
                33 + ip_len(r.ip.as_ref()) + if r.label2.is_some() { 3 } else { 0 }
            }
            EvpnRoute::InclusiveMulticast(r) => 13 + ip_len(Some(&r.originator)),
            EvpnRoute::EthernetSegment(r) => 19 + ip_len(Some(&r.originator)),
            EvpnRoute::IpPrefix(r) => match r.prefix {
                IpAddr::V4(_) => 34,
                IpAddr::V6(_) => 58,
            },
        }
    }

    /// Appends `type | length | value` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.route_type());
        // Every route type's value is at most 58 bytes, so the length always fits one octet.
        out.push(self.value_len() as u8);
        match self {
            EvpnRoute::EthernetAd(r) => {
                out.extend_from_slice(&r.rd.0);
                out.extend_from_slice(&r.esi.0);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                out.extend_from_slice(&r.label.to_bytes());
            }
            EvpnRoute::MacIp(r) => {
                out.extend_from_slice(&r.rd.0);
                out.extend_from_slice(&r.esi.0);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                out.push(48);
                out.extend_from_slice(&r.mac.0);
                put_ip_with_bit_len(out, r.ip.as_ref());
                out.extend_from_slice(&r.label1.to_bytes());
                if let Some(l2) = r.label2 {
                    out.extend_from_slice(&l2.to_bytes());
                }
            }
            EvpnRoute::InclusiveMulticast(r) => {
                out.extend_from_slice(&r.rd.0);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                put_ip_with_bit_len(out, Some(&r.originator));
            }
            EvpnRoute::EthernetSegment(r) => {
                out.extend_from_slice(&r.rd.0);
                out.extend_from_slice(&r.esi.0);
                put_ip_with_bit_len(out, Some(&r.originator));
            }
            EvpnRoute::IpPrefix(r) => {
                out.extend_from_slice(&r.rd.0);
                out.extend_from_slice(&r.esi.0);
                out.extend_from_slice(&r.ethernet_tag.to_be_bytes());
                out.push(r.prefix_len);
                put_ip(out, &r.prefix);
                put_ip(out, &r.gateway);
                out.extend_from_slice(&r.label.to_bytes());
            }
        }
    }

    /// The semantic rule that makes a well-framed route unusable on its own: a type-5 route
    /// whose ESI and gateway IP are both non-zero (RFC 9136 §3.1: they "MUST NOT both be
    /// non-zero"; treat-as-withdraw). Rules that also depend on the Router's MAC extended
    /// community are checked on the whole UPDATE ([`crate::Update`]).
    pub fn semantic_error(&self) -> Option<&'static str> {
        match self {
            EvpnRoute::IpPrefix(r) if !r.esi.is_zero() && !r.gateway.is_unspecified() => {
                Some("IP prefix route with both ESI and gateway IP non-zero (RFC 9136 §3.1)")
            }
            _ => None,
        }
    }
}

fn ip_len(ip: Option<&IpAddr>) -> usize {
    match ip {
        None => 0,
        Some(IpAddr::V4(_)) => 4,
        Some(IpAddr::V6(_)) => 16,
    }
}

fn put_ip(out: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
}

fn put_ip_with_bit_len(out: &mut Vec<u8>, ip: Option<&IpAddr>) {
    out.push((ip_len(ip) * 8) as u8);
    if let Some(ip) = ip {
        put_ip(out, ip);
    }
}

/// Result of reading one EVPN NLRI.
pub(crate) enum EvpnDecoded {
    /// A route of a known type.
    Route(EvpnRoute),
    /// A route of a type this codec does not implement, skipped by its length (RFC 7606 §5.4).
    Skipped,
}

const FIELD: &str = "EVPN_NLRI";

fn err(r: &Reader<'_>, field: &'static str, reason: impl Into<String>) -> Malformation {
    Malformation::new(r.offset(), field, reason)
}

fn read_ip(
    r: &mut Reader<'_>,
    bits: u8,
    field: &'static str,
) -> Result<Option<IpAddr>, Malformation> {
    let at = r.offset();
    let ip = match bits {
        0 => None,
        32 => r
            .array::<4>()
            .map(|b| Some(IpAddr::V4(Ipv4Addr::from(b))))
            .ok_or_else(|| Malformation::new(at, field, "IPv4 address overruns the route"))?,
        128 => r
            .array::<16>()
            .map(|b| Some(IpAddr::V6(Ipv6Addr::from(b))))
            .ok_or_else(|| Malformation::new(at, field, "IPv6 address overruns the route"))?,
        other => {
            return Err(Malformation::new(
                at.saturating_sub(1),
                field,
                format!("IP address length {other} (must be 0, 32 or 128)"),
            ))
        }
    };
    Ok(ip)
}

/// Reads one EVPN NLRI (`type | length | value`) from `r`.
///
/// Errors are malformations of a route of a known type; the caller decides the RFC 7606
/// action. Unknown route types are skipped by their length.
pub(crate) fn decode_evpn(r: &mut Reader<'_>) -> Result<EvpnDecoded, Malformation> {
    let start = r.offset();
    let rtype = r
        .u8()
        .ok_or_else(|| Malformation::new(start, "EVPN_NLRI.route_type", "missing route type"))?;
    let len = r
        .u8()
        .ok_or_else(|| Malformation::new(start + 1, "EVPN_NLRI.length", "missing route length"))?;
    let mut v = r.sub(usize::from(len)).ok_or_else(|| {
        Malformation::new(
            start + 1,
            "EVPN_NLRI.length",
            format!("route length {len} overruns the attribute"),
        )
    })?;
    let bad_len = |allowed: &str| {
        Malformation::new(
            start + 1,
            "EVPN_NLRI.length",
            format!("route type {rtype} with length {len} (allowed: {allowed})"),
        )
    };
    // Every fixed-size read below is within `v`, whose length was checked against the per-type
    // sizes first, so the `ok_or` fallbacks only guard against our own mistakes.
    let short = |v: &Reader<'_>| err(v, FIELD, "route shorter than its fields");
    let route = match rtype {
        route_type::ETHERNET_AD => {
            if len != 25 {
                return Err(bad_len("25"));
            }
            EvpnRoute::EthernetAd(EthernetAdRoute {
                rd: RouteDistinguisher(v.array().ok_or_else(|| short(&v))?),
                esi: Esi(v.array().ok_or_else(|| short(&v))?),
                ethernet_tag: v.u32().ok_or_else(|| short(&v))?,
                label: Label::from_raw(v.u24().ok_or_else(|| short(&v))?),
            })
        }
        route_type::MAC_IP => {
            if !matches!(len, 33 | 36 | 37 | 40 | 49 | 52) {
                return Err(bad_len("33, 36, 37, 40, 49, 52"));
            }
            let rd = RouteDistinguisher(v.array().ok_or_else(|| short(&v))?);
            let esi = Esi(v.array().ok_or_else(|| short(&v))?);
            let ethernet_tag = v.u32().ok_or_else(|| short(&v))?;
            let mac_len_at = v.offset();
            let mac_len = v.u8().ok_or_else(|| short(&v))?;
            if mac_len != 48 {
                return Err(Malformation::new(
                    mac_len_at,
                    "EVPN_NLRI.mac_length",
                    format!("MAC address length {mac_len} (must be 48)"),
                ));
            }
            let mac = MacAddress(v.array().ok_or_else(|| short(&v))?);
            let ip_len_at = v.offset();
            let ip_bits = v.u8().ok_or_else(|| short(&v))?;
            if !matches!(ip_bits, 0 | 32 | 128) {
                return Err(Malformation::new(
                    ip_len_at,
                    "EVPN_NLRI.ip_length",
                    format!("IP address length {ip_bits} (must be 0, 32 or 128)"),
                ));
            }
            let ip_bytes = usize::from(ip_bits / 8);
            // What is left after the IP must be one label (3) or two (6).
            let labels = v.remaining().checked_sub(ip_bytes);
            if !matches!(labels, Some(3) | Some(6)) {
                return Err(Malformation::new(
                    ip_len_at,
                    "EVPN_NLRI.ip_length",
                    format!("IP address length {ip_bits} inconsistent with route length {len}"),
                ));
            }
            let ip = read_ip(&mut v, ip_bits, "EVPN_NLRI.ip")?;
            let label1 = Label::from_raw(v.u24().ok_or_else(|| short(&v))?);
            let label2 = if v.is_empty() {
                None
            } else {
                Some(Label::from_raw(v.u24().ok_or_else(|| short(&v))?))
            };
            EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi,
                ethernet_tag,
                mac,
                ip,
                label1,
                label2,
            })
        }
        route_type::INCLUSIVE_MULTICAST => {
            let expect_bits = match len {
                17 => 32,
                29 => 128,
                _ => return Err(bad_len("17, 29")),
            };
            let rd = RouteDistinguisher(v.array().ok_or_else(|| short(&v))?);
            let ethernet_tag = v.u32().ok_or_else(|| short(&v))?;
            let originator = read_originator(&mut v, expect_bits, len)?;
            EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd,
                ethernet_tag,
                originator,
            })
        }
        route_type::ETHERNET_SEGMENT => {
            let expect_bits = match len {
                23 => 32,
                35 => 128,
                _ => return Err(bad_len("23, 35")),
            };
            let rd = RouteDistinguisher(v.array().ok_or_else(|| short(&v))?);
            let esi = Esi(v.array().ok_or_else(|| short(&v))?);
            let originator = read_originator(&mut v, expect_bits, len)?;
            EvpnRoute::EthernetSegment(EthernetSegmentRoute {
                rd,
                esi,
                originator,
            })
        }
        route_type::IP_PREFIX => {
            let v6 = match len {
                34 => false,
                58 => true,
                _ => return Err(bad_len("34, 58")),
            };
            let rd = RouteDistinguisher(v.array().ok_or_else(|| short(&v))?);
            let esi = Esi(v.array().ok_or_else(|| short(&v))?);
            let ethernet_tag = v.u32().ok_or_else(|| short(&v))?;
            let plen_at = v.offset();
            let prefix_len = v.u8().ok_or_else(|| short(&v))?;
            let max = if v6 { 128 } else { 32 };
            if prefix_len > max {
                return Err(Malformation::new(
                    plen_at,
                    "EVPN_NLRI.prefix_length",
                    format!("prefix length {prefix_len} exceeds {max}"),
                ));
            }
            let bits = if v6 { 128 } else { 32 };
            let prefix = read_ip(&mut v, bits, "EVPN_NLRI.prefix")?.ok_or_else(|| short(&v))?;
            let gateway =
                read_ip(&mut v, bits, "EVPN_NLRI.gateway_ip")?.ok_or_else(|| short(&v))?;
            let label = Label::from_raw(v.u24().ok_or_else(|| short(&v))?);
            EvpnRoute::IpPrefix(IpPrefixRoute {
                rd,
                esi,
                ethernet_tag,
                prefix_len,
                prefix,
                gateway,
                label,
            })
        }
        _ => return Ok(EvpnDecoded::Skipped),
    };
    Ok(EvpnDecoded::Route(route))
}

fn read_originator(v: &mut Reader<'_>, expect_bits: u8, len: u8) -> Result<IpAddr, Malformation> {
    let at = v.offset();
    let bits = v
        .u8()
        .ok_or_else(|| Malformation::new(at, "EVPN_NLRI.ip_length", "missing IP length"))?;
    if bits != expect_bits {
        return Err(Malformation::new(
            at,
            "EVPN_NLRI.ip_length",
            format!("IP address length {bits} inconsistent with route length {len}"),
        ));
    }
    read_ip(v, bits, "EVPN_NLRI.originator_ip")?
        .ok_or_else(|| Malformation::new(at, "EVPN_NLRI.ip_length", "missing originator IP"))
}
