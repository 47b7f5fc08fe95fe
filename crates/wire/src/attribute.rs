//! Path attributes (RFC 4271 §5 and the attribute RFCs), their RFC 7606 error actions, and
//! their encoding.
//!
//! This module holds the attribute list ([`PathAttribute`]), the type codes and flags, and the
//! small attributes; one submodule per larger concept: `as_path` (AS_PATH, AS4_PATH,
//! AGGREGATOR, AS4_AGGREGATOR), `mp` (MP_REACH_NLRI, MP_UNREACH_NLRI), `pmsi` (PMSI_TUNNEL),
//! `tunnel_encap` (Tunnel Encapsulation) and `decode` (decoding one attribute and its RFC 7606
//! action).

mod as_path;
mod decode;
mod mp;
mod pmsi;
mod tunnel_encap;

pub use as_path::{Aggregator, AsPath, AsSegment, SegmentType};
pub use mp::{MpReach, MpUnreach, NextHop};
pub use pmsi::{pmsi_type, PmsiTunnel, PmsiTunnelId};
pub use tunnel_encap::{TunnelSubTlv, TunnelTlv};

pub(crate) use decode::{decode_attribute, Action, Decoded};
pub(crate) use mp::{encode_mp_reach, encode_mp_unreach, encode_nlri_for};

use crate::community::{Community, ExtendedCommunity, Ipv6ExtendedCommunity, LargeCommunity};
use crate::context::CodecContext;
use crate::types::AS_TRANS;
use as_path::encode_as_path;
use pmsi::encode_pmsi;
use std::net::Ipv4Addr;
use tunnel_encap::encode_tunnel_encap;

/// Path attribute type codes (IANA "BGP Path Attributes").
pub mod attr_type {
    /// ORIGIN (RFC 4271 §5.1.1).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271 §5.1.2).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271 §5.1.3).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    pub const MED: u8 = 4;
    /// LOCAL_PREF (RFC 4271 §5.1.5).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271 §5.1.6).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271 §5.1.7).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456 §8).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456 §8).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760 §3).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760 §4).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// PMSI_TUNNEL (RFC 6514 §5).
    pub const PMSI_TUNNEL: u8 = 22;
    /// Tunnel Encapsulation (RFC 9012).
    pub const TUNNEL_ENCAPSULATION: u8 = 23;
    /// IPv6 Address Specific Extended Community (RFC 5701 §2).
    pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
    /// Only to Customer, OTC (RFC 9234 §5).
    pub const ONLY_TO_CUSTOMER: u8 = 35;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;
}

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flag {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive (1) or non-transitive (0).
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: some speaker on the path did not recognise this optional transitive attribute.
    pub const PARTIAL: u8 = 0x20;
    /// Extended length: the length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Canonical name of a path attribute type, as used in JSON and error messages.
pub fn attr_name(type_code: u8) -> &'static str {
    use attr_type::*;
    match type_code {
        ORIGIN => "ORIGIN",
        AS_PATH => "AS_PATH",
        NEXT_HOP => "NEXT_HOP",
        MED => "MULTI_EXIT_DISC",
        LOCAL_PREF => "LOCAL_PREF",
        ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        AGGREGATOR => "AGGREGATOR",
        COMMUNITIES => "COMMUNITIES",
        ORIGINATOR_ID => "ORIGINATOR_ID",
        CLUSTER_LIST => "CLUSTER_LIST",
        MP_REACH_NLRI => "MP_REACH_NLRI",
        MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        EXTENDED_COMMUNITIES => "EXTENDED_COMMUNITIES",
        AS4_PATH => "AS4_PATH",
        AS4_AGGREGATOR => "AS4_AGGREGATOR",
        PMSI_TUNNEL => "PMSI_TUNNEL",
        TUNNEL_ENCAPSULATION => "TUNNEL_ENCAPSULATION",
        IPV6_EXTENDED_COMMUNITIES => "IPV6_EXTENDED_COMMUNITIES",
        ONLY_TO_CUSTOMER => "ONLY_TO_CUSTOMER",
        LARGE_COMMUNITY => "LARGE_COMMUNITY",
        _ => "UNKNOWN",
    }
}

/// The Optional and Transitive bits a known attribute must carry (RFC 4271 §5 and the
/// attribute RFCs), or `None` for types this codec does not know.
pub fn expected_flags(type_code: u8) -> Option<u8> {
    use attr_type::*;
    const WELL_KNOWN: u8 = flag::TRANSITIVE;
    const OPT_TRANS: u8 = flag::OPTIONAL | flag::TRANSITIVE;
    const OPT_NON_TRANS: u8 = flag::OPTIONAL;
    Some(match type_code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => WELL_KNOWN,
        MED | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => OPT_NON_TRANS,
        AGGREGATOR
        | COMMUNITIES
        | EXTENDED_COMMUNITIES
        | AS4_PATH
        | AS4_AGGREGATOR
        | PMSI_TUNNEL
        | TUNNEL_ENCAPSULATION
        | IPV6_EXTENDED_COMMUNITIES
        | LARGE_COMMUNITY
        | ONLY_TO_CUSTOMER => OPT_TRANS,
        _ => return None,
    })
}

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Learned by an interior protocol.
    Igp = 0,
    /// Learned by EGP.
    Egp = 1,
    /// Learned some other way.
    Incomplete = 2,
}

/// An attribute this codec does not know, kept for propagation (RFC 4271 §5: optional
/// transitive ones are passed on with the Partial bit set).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownAttribute {
    /// Flags as received, without the extended-length bit (recomputed on encoding).
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// A path attribute other than MP_REACH_NLRI/MP_UNREACH_NLRI (which [`crate::Update`] holds
/// separately, because they carry routes rather than describe them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathAttribute {
    /// ORIGIN.
    Origin(Origin),
    /// AS_PATH.
    AsPath(AsPath),
    /// NEXT_HOP (IPv4 unicast NLRI only).
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC.
    Med(u32),
    /// LOCAL_PREF.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE.
    AtomicAggregate,
    /// AGGREGATOR.
    Aggregator(Aggregator),
    /// COMMUNITIES.
    Communities(Vec<Community>),
    /// ORIGINATOR_ID.
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST.
    ClusterList(Vec<Ipv4Addr>),
    /// EXTENDED COMMUNITIES.
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH.
    As4Path(AsPath),
    /// AS4_AGGREGATOR.
    As4Aggregator(Aggregator),
    /// PMSI_TUNNEL.
    PmsiTunnel(PmsiTunnel),
    /// Tunnel Encapsulation (TLV structure validated, contents kept).
    TunnelEncapsulation(Vec<TunnelTlv>),
    /// IPv6 Address Specific Extended Community (RFC 5701).
    Ipv6ExtendedCommunities(Vec<Ipv6ExtendedCommunity>),
    /// Only to Customer (RFC 9234 §5): the AS that marked the route as going only to
    /// customers (route leak prevention).
    OnlyToCustomer(u32),
    /// LARGE_COMMUNITY.
    LargeCommunities(Vec<LargeCommunity>),
    /// Anything else.
    Unknown(UnknownAttribute),
}

impl PathAttribute {
    /// The attribute type code.
    pub fn type_code(&self) -> u8 {
        use attr_type::*;
        match self {
            PathAttribute::Origin(_) => ORIGIN,
            PathAttribute::AsPath(_) => AS_PATH,
            PathAttribute::NextHop(_) => NEXT_HOP,
            PathAttribute::Med(_) => MED,
            PathAttribute::LocalPref(_) => LOCAL_PREF,
            PathAttribute::AtomicAggregate => ATOMIC_AGGREGATE,
            PathAttribute::Aggregator(_) => AGGREGATOR,
            PathAttribute::Communities(_) => COMMUNITIES,
            PathAttribute::OriginatorId(_) => ORIGINATOR_ID,
            PathAttribute::ClusterList(_) => CLUSTER_LIST,
            PathAttribute::ExtendedCommunities(_) => EXTENDED_COMMUNITIES,
            PathAttribute::As4Path(_) => AS4_PATH,
            PathAttribute::As4Aggregator(_) => AS4_AGGREGATOR,
            PathAttribute::PmsiTunnel(_) => PMSI_TUNNEL,
            PathAttribute::TunnelEncapsulation(_) => TUNNEL_ENCAPSULATION,
            PathAttribute::Ipv6ExtendedCommunities(_) => IPV6_EXTENDED_COMMUNITIES,
            PathAttribute::OnlyToCustomer(_) => ONLY_TO_CUSTOMER,
            PathAttribute::LargeCommunities(_) => LARGE_COMMUNITY,
            PathAttribute::Unknown(u) => u.type_code,
        }
    }

    /// Appends the whole attribute (flags, type, length, value) to `out`. `partial` sets the
    /// Partial bit (only meaningful on optional transitive attributes).
    pub fn encode(&self, ctx: &CodecContext, partial: bool, out: &mut Vec<u8>) {
        let type_code = self.type_code();
        let mut flags = match self {
            PathAttribute::Unknown(u) => u.flags & !flag::EXTENDED_LENGTH,
            _ => expected_flags(type_code).unwrap_or(flag::OPTIONAL),
        };
        if partial
            && flags & (flag::OPTIONAL | flag::TRANSITIVE) == flag::OPTIONAL | flag::TRANSITIVE
        {
            flags |= flag::PARTIAL;
        }
        write_attribute(out, flags, type_code, |out| self.encode_value(ctx, out));
    }

    fn encode_value(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        match self {
            PathAttribute::Origin(o) => out.push(*o as u8),
            PathAttribute::AsPath(p) => encode_as_path(p, ctx.four_octet_as, out),
            PathAttribute::NextHop(a) | PathAttribute::OriginatorId(a) => {
                out.extend_from_slice(&a.octets())
            }
            PathAttribute::Med(v)
            | PathAttribute::LocalPref(v)
            | PathAttribute::OnlyToCustomer(v) => out.extend_from_slice(&v.to_be_bytes()),
            PathAttribute::AtomicAggregate => {}
            PathAttribute::Aggregator(a) => {
                if ctx.four_octet_as {
                    out.extend_from_slice(&a.asn.to_be_bytes());
                } else {
                    let asn = u16::try_from(a.asn).unwrap_or(AS_TRANS);
                    out.extend_from_slice(&asn.to_be_bytes());
                }
                out.extend_from_slice(&a.address.octets());
            }
            PathAttribute::As4Aggregator(a) => {
                out.extend_from_slice(&a.asn.to_be_bytes());
                out.extend_from_slice(&a.address.octets());
            }
            PathAttribute::Communities(cs) => {
                for c in cs {
                    out.extend_from_slice(&c.0.to_be_bytes());
                }
            }
            PathAttribute::ClusterList(ids) => {
                for id in ids {
                    out.extend_from_slice(&id.octets());
                }
            }
            PathAttribute::ExtendedCommunities(cs) => {
                for c in cs {
                    out.extend_from_slice(&c.0);
                }
            }
            PathAttribute::Ipv6ExtendedCommunities(cs) => {
                for c in cs {
                    out.extend_from_slice(&c.0);
                }
            }
            PathAttribute::As4Path(p) => encode_as_path(p, true, out),
            PathAttribute::PmsiTunnel(p) => encode_pmsi(p, out),
            PathAttribute::TunnelEncapsulation(tlvs) => encode_tunnel_encap(tlvs, out),
            PathAttribute::LargeCommunities(cs) => {
                for c in cs {
                    out.extend_from_slice(&c.global.to_be_bytes());
                    out.extend_from_slice(&c.local1.to_be_bytes());
                    out.extend_from_slice(&c.local2.to_be_bytes());
                }
            }
            PathAttribute::Unknown(u) => out.extend_from_slice(&u.value),
        }
    }
}

/// Writes `flags | type | length | value`, choosing the one- or two-octet length form.
pub(crate) fn write_attribute(
    out: &mut Vec<u8>,
    flags: u8,
    type_code: u8,
    value: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.extend_from_slice(&[flags | flag::EXTENDED_LENGTH, type_code, 0, 0]);
    value(out);
    let len = out.len() - start - 4;
    if len <= 255 {
        out[start] = flags & !flag::EXTENDED_LENGTH;
        out[start + 2] = len as u8;
        out.copy_within(start + 4.., start + 3);
        out.truncate(out.len() - 1);
    } else {
        // Values longer than 65535 bytes cannot occur: the message encoder refuses any
        // message over 65535 bytes before it is sent.
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}
