//! Path attributes (RFC 4271 §5 and the attribute RFCs), their RFC 7606 error actions, and
//! their encoding.

use crate::community::{Community, ExtendedCommunity, Ipv6ExtendedCommunity, LargeCommunity};
use crate::context::CodecContext;
use crate::error::{code, subcode, Malformation};
use crate::nlri::{decode_nlri_list, Nlri};
use crate::reader::Reader;
use crate::types::{Afi, Family, Label, Safi, AS_TRANS};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentType {
    /// AS_SET.
    Set = 1,
    /// AS_SEQUENCE.
    Sequence = 2,
    /// AS_CONFED_SEQUENCE.
    ConfedSequence = 3,
    /// AS_CONFED_SET.
    ConfedSet = 4,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }

    /// True for the confederation segment types.
    pub fn is_confed(&self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One AS_PATH segment. It holds 1..=255 AS numbers on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// The AS numbers.
    pub asns: Vec<u32>,
}

/// An AS_PATH or AS4_PATH (RFC 4271 §5.1.2, RFC 6793).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// Segments in wire order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE, or empty if `asns` is empty.
    pub fn sequence(asns: Vec<u32>) -> Self {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2): an AS_SET counts as one,
    /// confederation segments count as zero.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// True when `asn` appears anywhere in the path (loop detection, RFC 4271 §9.1.2).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// The leftmost AS of the first AS_SEQUENCE (the neighbour AS), if any.
    pub fn first_asn(&self) -> Option<u32> {
        match self.segments.first() {
            Some(s) if s.kind == SegmentType::Sequence => s.asns.first().copied(),
            _ => None,
        }
    }
}

/// AGGREGATOR / AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// The AS that formed the aggregate.
    pub asn: u32,
    /// The BGP identifier of the speaker that formed it.
    pub address: Ipv4Addr,
}

/// PMSI tunnel types (RFC 6514 §5, RFC 7432 §11.2).
pub mod pmsi_type {
    /// No tunnel information present.
    pub const NO_TUNNEL: u8 = 0;
    /// Ingress replication: the tunnel identifier is the unicast address of the endpoint.
    pub const INGRESS_REPLICATION: u8 = 6;
}

/// The tunnel of a PMSI_TUNNEL attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PmsiTunnelId {
    /// Ingress replication to this endpoint (type 6), the form EVPN/VXLAN uses (RFC 8365 §9).
    IngressReplication(IpAddr),
    /// Any other tunnel type, identifier kept as bytes.
    Other {
        /// Tunnel type (never 6).
        tunnel_type: u8,
        /// Tunnel identifier.
        id: Vec<u8>,
    },
}

/// PMSI_TUNNEL (RFC 6514 §5): how to reach the originator for BUM traffic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PmsiTunnel {
    /// Flags (bit 0x01: leaf information required).
    pub flags: u8,
    /// MPLS label or, for VXLAN, the VNI (RFC 8365 §5.1.3).
    pub label: Label,
    /// The tunnel.
    pub tunnel: PmsiTunnelId,
}

impl PmsiTunnel {
    /// Ingress replication to `endpoint` for `vni` (RFC 8365 §9).
    pub fn ingress_replication(endpoint: IpAddr, label: Label) -> Self {
        PmsiTunnel {
            flags: 0,
            label,
            tunnel: PmsiTunnelId::IngressReplication(endpoint),
        }
    }

    /// The tunnel type number.
    pub fn tunnel_type(&self) -> u8 {
        match &self.tunnel {
            PmsiTunnelId::IngressReplication(_) => pmsi_type::INGRESS_REPLICATION,
            PmsiTunnelId::Other { tunnel_type, .. } => *tunnel_type,
        }
    }
}

/// A sub-TLV of a Tunnel Encapsulation TLV (RFC 9012 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelSubTlv {
    /// Sub-TLV type (types 128..=255 have a two-octet length).
    pub sub_type: u8,
    /// Value, kept as bytes.
    pub value: Vec<u8>,
}

/// One Tunnel TLV of the Tunnel Encapsulation attribute (RFC 9012 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelTlv {
    /// Tunnel type (e.g. 8 for VXLAN).
    pub tunnel_type: u16,
    /// Its sub-TLVs.
    pub sub_tlvs: Vec<TunnelSubTlv>,
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

/// The next hop of an MP_REACH_NLRI (RFC 4760 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// An IPv4 address (4 bytes).
    Ipv4(Ipv4Addr),
    /// An IPv6 global address and optionally a link-local one (16 or 32 bytes).
    Ipv6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address.
        link_local: Option<Ipv6Addr>,
    },
    /// The next hop of a family this codec does not parse, as bytes.
    Opaque(Vec<u8>),
}

impl NextHop {
    /// The next hop for `addr` (IPv4 or IPv6 global).
    pub fn from_ip(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => NextHop::Ipv4(a),
            IpAddr::V6(a) => NextHop::Ipv6 {
                global: a,
                link_local: None,
            },
        }
    }

    /// The IPv4 or global IPv6 address, if any.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            NextHop::Ipv4(a) => Some(IpAddr::V4(*a)),
            NextHop::Ipv6 { global, .. } => Some(IpAddr::V6(*global)),
            NextHop::Opaque(_) => None,
        }
    }

    /// Bytes the next hop takes in MP_REACH_NLRI.
    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            NextHop::Ipv4(_) => 4,
            NextHop::Ipv6 { link_local, .. } => 16 + if link_local.is_some() { 16 } else { 0 },
            NextHop::Opaque(b) => b.len(),
        }
    }

    /// Appends the next hop's bytes (without the length octet).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            NextHop::Ipv4(a) => out.extend_from_slice(&a.octets()),
            NextHop::Ipv6 { global, link_local } => {
                out.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.extend_from_slice(&ll.octets());
                }
            }
            NextHop::Opaque(b) => out.extend_from_slice(b),
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3): routes of one family with their next hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpReach {
    /// Address family.
    pub family: Family,
    /// Next hop.
    pub next_hop: NextHop,
    /// Routes (empty for families this codec does not parse; see `opaque_nlri`).
    pub nlri: Vec<Nlri>,
    /// EVPN routes of unimplemented types that were skipped (RFC 7606 §5.4).
    pub skipped_routes: u32,
    /// NLRI bytes of a family this codec does not parse, kept verbatim.
    pub opaque_nlri: Vec<u8>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4): routes of one family being withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpUnreach {
    /// Address family.
    pub family: Family,
    /// Withdrawn routes.
    pub nlri: Vec<Nlri>,
    /// EVPN routes of unimplemented types that were skipped (RFC 7606 §5.4).
    pub skipped_routes: u32,
    /// NLRI bytes of a family this codec does not parse, kept verbatim.
    pub opaque_nlri: Vec<u8>,
}

impl MpReach {
    /// Routes of `family` reachable through `next_hop`.
    pub fn new(family: Family, next_hop: NextHop, nlri: Vec<Nlri>) -> Self {
        MpReach {
            family,
            next_hop,
            nlri,
            skipped_routes: 0,
            opaque_nlri: Vec::new(),
        }
    }
}

impl MpUnreach {
    /// Withdrawal of `nlri` in `family`.
    pub fn new(family: Family, nlri: Vec<Nlri>) -> Self {
        MpUnreach {
            family,
            nlri,
            skipped_routes: 0,
            opaque_nlri: Vec::new(),
        }
    }
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
            PathAttribute::PmsiTunnel(p) => {
                out.push(p.flags);
                out.push(p.tunnel_type());
                out.extend_from_slice(&p.label.to_bytes());
                match &p.tunnel {
                    PmsiTunnelId::IngressReplication(IpAddr::V4(a)) => {
                        out.extend_from_slice(&a.octets())
                    }
                    PmsiTunnelId::IngressReplication(IpAddr::V6(a)) => {
                        out.extend_from_slice(&a.octets())
                    }
                    PmsiTunnelId::Other { id, .. } => out.extend_from_slice(id),
                }
            }
            PathAttribute::TunnelEncapsulation(tlvs) => {
                for t in tlvs {
                    out.extend_from_slice(&t.tunnel_type.to_be_bytes());
                    let len_at = out.len();
                    out.extend_from_slice(&[0, 0]);
                    for s in &t.sub_tlvs {
                        out.push(s.sub_type);
                        if s.sub_type >= 128 {
                            out.extend_from_slice(&(s.value.len() as u16).to_be_bytes());
                        } else {
                            out.push(s.value.len() as u8);
                        }
                        out.extend_from_slice(&s.value);
                    }
                    let len = (out.len() - len_at - 2) as u16;
                    out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
                }
            }
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

fn encode_as_path(p: &AsPath, four_octet: bool, out: &mut Vec<u8>) {
    for s in &p.segments {
        for chunk in s.asns.chunks(255) {
            out.push(s.kind as u8);
            out.push(chunk.len() as u8);
            for asn in chunk {
                if four_octet {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let a = u16::try_from(*asn).unwrap_or(AS_TRANS);
                    out.extend_from_slice(&a.to_be_bytes());
                }
            }
        }
    }
}

pub(crate) fn encode_mp_reach(m: &MpReach, ctx: &CodecContext, out: &mut Vec<u8>) {
    write_attribute(out, flag::OPTIONAL, attr_type::MP_REACH_NLRI, |out| {
        out.extend_from_slice(&m.family.afi.0.to_be_bytes());
        out.push(m.family.safi.0);
        out.push(m.next_hop.encoded_len() as u8);
        m.next_hop.encode(out);
        out.push(0);
        encode_nlri_for(ctx, m.family, &m.nlri, out);
        out.extend_from_slice(&m.opaque_nlri);
    });
}

pub(crate) fn encode_mp_unreach(m: &MpUnreach, ctx: &CodecContext, out: &mut Vec<u8>) {
    write_attribute(out, flag::OPTIONAL, attr_type::MP_UNREACH_NLRI, |out| {
        out.extend_from_slice(&m.family.afi.0.to_be_bytes());
        out.push(m.family.safi.0);
        encode_nlri_for(ctx, m.family, &m.nlri, out);
        out.extend_from_slice(&m.opaque_nlri);
    });
}

/// Encodes NLRI with or without path identifiers as the session's ADD-PATH state says.
pub(crate) fn encode_nlri_for(
    ctx: &CodecContext,
    family: Family,
    nlri: &[Nlri],
    out: &mut Vec<u8>,
) {
    let with_id = ctx.has_path_id(family);
    for n in nlri {
        if with_id {
            out.extend_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
        }
        Nlri {
            path_id: None,
            route: n.route,
        }
        .encode(out);
    }
}

/// What RFC 7606 says to do about one malformed attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Attribute discard.
    Discard,
    /// Treat-as-withdraw.
    Withdraw,
    /// AFI/SAFI disable.
    Disable(Family),
    /// Session reset with this NOTIFICATION code/subcode/data.
    Reset(u8, u8, Vec<u8>),
}

/// A malformed attribute: the action and the finding.
#[derive(Clone, Debug)]
pub(crate) struct AttrError {
    pub action: Action,
    pub cause: Malformation,
}

/// A decoded attribute: either a plain one or one of the MP ones.
pub(crate) enum Decoded {
    Attr(PathAttribute),
    /// Discarded without being an error (e.g. LOCAL_PREF from an external peer): recorded as a
    /// discard cause.
    Ignored(Malformation),
    /// MP_REACH_NLRI, with routes that parsed but must be treated as withdrawn.
    MpReach(MpReach, Vec<Malformation>),
    /// MP_UNREACH_NLRI.
    MpUnreach(MpUnreach),
}

/// Decodes the value of attribute `type_code` (flags already checked) from `v`. `raw` is the
/// whole attribute as received, for NOTIFICATION data.
pub(crate) fn decode_attribute(
    ctx: &CodecContext,
    flags: u8,
    type_code: u8,
    v: &mut Reader<'_>,
    raw: &[u8],
) -> Result<Decoded, AttrError> {
    use attr_type::*;
    let len = v.remaining();
    let at = v.offset();
    let name = attr_name(type_code);
    let fail = |action: Action, field: &'static str, reason: String| AttrError {
        action,
        cause: Malformation::new(at, field, reason).in_attribute(type_code),
    };
    let bad_len = |action: Action, expected: &str| {
        fail(
            action,
            name,
            format!("{name} length {len} (expected {expected})"),
        )
    };
    let attr = match type_code {
        ORIGIN => {
            if len != 1 {
                return Err(bad_len(Action::Withdraw, "1"));
            }
            match v.u8() {
                Some(0) => PathAttribute::Origin(Origin::Igp),
                Some(1) => PathAttribute::Origin(Origin::Egp),
                Some(2) => PathAttribute::Origin(Origin::Incomplete),
                other => {
                    return Err(fail(
                        Action::Withdraw,
                        name,
                        format!("undefined ORIGIN value {}", other.unwrap_or(0)),
                    ))
                }
            }
        }
        AS_PATH => {
            let ReadAsPath { path, as0_at } =
                decode_as_path(v, ctx.four_octet_as).map_err(|(off, why)| AttrError {
                    action: Action::Withdraw,
                    cause: Malformation::new(off, name, why).in_attribute(type_code),
                })?;
            if ctx.external_peer && path.segments.iter().any(|s| s.kind.is_confed()) {
                return Err(fail(
                    Action::Withdraw,
                    name,
                    "AS_CONFED segment from an external peer (RFC 7606 §7.2)".into(),
                ));
            }
            if let Some(off) = as0_at {
                // RFC 7607 §2: malformed, handled as RFC 7606 §7.2 says for AS_PATH.
                return Err(AttrError {
                    action: Action::Withdraw,
                    cause: Malformation::new(off, name, "AS number 0 (RFC 7607 §2)")
                        .in_attribute(type_code),
                });
            }
            PathAttribute::AsPath(path)
        }
        NEXT_HOP => {
            let a = v
                .array::<4>()
                .filter(|_| len == 4)
                .ok_or_else(|| bad_len(Action::Withdraw, "4"))?;
            PathAttribute::NextHop(Ipv4Addr::from(a))
        }
        MED => {
            let x = v
                .u32()
                .filter(|_| len == 4)
                .ok_or_else(|| bad_len(Action::Withdraw, "4"))?;
            PathAttribute::Med(x)
        }
        LOCAL_PREF => {
            if ctx.external_peer {
                return Ok(Decoded::Ignored(
                    Malformation::new(
                        at,
                        name,
                        "LOCAL_PREF from an external peer discarded (RFC 7606 §7.5)",
                    )
                    .in_attribute(type_code),
                ));
            }
            let x = v
                .u32()
                .filter(|_| len == 4)
                .ok_or_else(|| bad_len(Action::Withdraw, "4"))?;
            PathAttribute::LocalPref(x)
        }
        ATOMIC_AGGREGATE => {
            if len != 0 {
                return Err(bad_len(Action::Discard, "0"));
            }
            PathAttribute::AtomicAggregate
        }
        AGGREGATOR => {
            let want = if ctx.four_octet_as { 8 } else { 6 };
            if len != want {
                return Err(bad_len(Action::Discard, if want == 8 { "8" } else { "6" }));
            }
            let asn = if want == 8 {
                v.u32()
            } else {
                v.u16().map(u32::from)
            }
            .ok_or_else(|| bad_len(Action::Discard, "6 or 8"))?;
            let address = Ipv4Addr::from(
                v.array::<4>()
                    .ok_or_else(|| bad_len(Action::Discard, "6 or 8"))?,
            );
            if asn == 0 {
                // RFC 7607 §2 makes it malformed; RFC 7606 §7.7: attribute discard.
                return Err(fail(
                    Action::Discard,
                    name,
                    "AS number 0 (RFC 7607 §2, RFC 7606 §7.7)".into(),
                ));
            }
            PathAttribute::Aggregator(Aggregator { asn, address })
        }
        AS4_AGGREGATOR => {
            if ctx.four_octet_as {
                return Ok(Decoded::Ignored(
                    Malformation::new(
                        at,
                        name,
                        "AS4_AGGREGATOR on a 4-octet AS session discarded (RFC 6793 §4.1)",
                    )
                    .in_attribute(type_code),
                ));
            }
            if len != 8 {
                return Err(bad_len(Action::Discard, "8"));
            }
            let asn = v.u32().ok_or_else(|| bad_len(Action::Discard, "8"))?;
            let address = Ipv4Addr::from(
                v.array::<4>()
                    .ok_or_else(|| bad_len(Action::Discard, "8"))?,
            );
            if asn == 0 {
                // RFC 7607 §2 sends it to RFC 6793's handling: attribute discard (§6).
                return Err(fail(
                    Action::Discard,
                    name,
                    "AS number 0 (RFC 7607 §2, RFC 6793 §6)".into(),
                ));
            }
            PathAttribute::As4Aggregator(Aggregator { asn, address })
        }
        COMMUNITIES => {
            if len == 0 || len % 4 != 0 {
                return Err(bad_len(Action::Withdraw, "a non-zero multiple of 4"));
            }
            let mut cs = Vec::with_capacity(len / 4);
            while let Some(x) = v.u32() {
                cs.push(Community(x));
            }
            PathAttribute::Communities(cs)
        }
        ORIGINATOR_ID => {
            if ctx.external_peer {
                return Ok(Decoded::Ignored(
                    Malformation::new(
                        at,
                        name,
                        "ORIGINATOR_ID from an external peer discarded (RFC 7606 §7.9)",
                    )
                    .in_attribute(type_code),
                ));
            }
            let a = v
                .array::<4>()
                .filter(|_| len == 4)
                .ok_or_else(|| bad_len(Action::Withdraw, "4"))?;
            PathAttribute::OriginatorId(Ipv4Addr::from(a))
        }
        CLUSTER_LIST => {
            if ctx.external_peer {
                return Ok(Decoded::Ignored(
                    Malformation::new(
                        at,
                        name,
                        "CLUSTER_LIST from an external peer discarded (RFC 7606 §7.10)",
                    )
                    .in_attribute(type_code),
                ));
            }
            if len == 0 || len % 4 != 0 {
                return Err(bad_len(Action::Withdraw, "a non-zero multiple of 4"));
            }
            let mut ids = Vec::with_capacity(len / 4);
            while let Some(a) = v.array::<4>() {
                ids.push(Ipv4Addr::from(a));
            }
            PathAttribute::ClusterList(ids)
        }
        EXTENDED_COMMUNITIES => {
            if len == 0 || len % 8 != 0 {
                return Err(bad_len(Action::Withdraw, "a non-zero multiple of 8"));
            }
            let mut cs = Vec::with_capacity(len / 8);
            while let Some(b) = v.array::<8>() {
                cs.push(ExtendedCommunity(b));
            }
            PathAttribute::ExtendedCommunities(cs)
        }
        IPV6_EXTENDED_COMMUNITIES => {
            // RFC 7606 §7.15.
            if len == 0 || len % 20 != 0 {
                return Err(bad_len(Action::Withdraw, "a non-zero multiple of 20"));
            }
            let mut cs = Vec::with_capacity(len / 20);
            while let Some(b) = v.array::<20>() {
                cs.push(Ipv6ExtendedCommunity(b));
            }
            PathAttribute::Ipv6ExtendedCommunities(cs)
        }
        ONLY_TO_CUSTOMER => {
            // RFC 9234 §5: a length other than 4 is treat-as-withdraw.
            let asn = v
                .u32()
                .filter(|_| len == 4)
                .ok_or_else(|| bad_len(Action::Withdraw, "4"))?;
            PathAttribute::OnlyToCustomer(asn)
        }
        AS4_PATH => {
            if ctx.four_octet_as {
                return Ok(Decoded::Ignored(
                    Malformation::new(
                        at,
                        name,
                        "AS4_PATH on a 4-octet AS session discarded (RFC 6793 §4.1)",
                    )
                    .in_attribute(type_code),
                ));
            }
            if len == 0 {
                // RFC 7606 §4: zero length is malformed for all but AS_PATH/ATOMIC_AGGREGATE.
                return Err(bad_len(Action::Discard, "at least 6"));
            }
            let ReadAsPath { path, as0_at } =
                decode_as_path(v, true).map_err(|(off, why)| AttrError {
                    action: Action::Discard,
                    cause: Malformation::new(off, name, why).in_attribute(type_code),
                })?;
            if path.segments.iter().any(|s| s.kind.is_confed()) {
                return Err(fail(
                    Action::Discard,
                    name,
                    "AS_CONFED segment in AS4_PATH (RFC 6793 §6)".into(),
                ));
            }
            if let Some(off) = as0_at {
                // RFC 7607 §2 sends AS 0 in AS4_PATH to RFC 6793's handling: attribute
                // discard (RFC 6793 §6).
                return Err(AttrError {
                    action: Action::Discard,
                    cause: Malformation::new(off, name, "AS number 0 (RFC 7607 §2, RFC 6793 §6)")
                        .in_attribute(type_code),
                });
            }
            PathAttribute::As4Path(path)
        }
        PMSI_TUNNEL => PathAttribute::PmsiTunnel(
            decode_pmsi(v).map_err(|why| fail(Action::Withdraw, name, why))?,
        ),
        TUNNEL_ENCAPSULATION => {
            PathAttribute::TunnelEncapsulation(decode_tunnel_encap(v).map_err(|(off, why)| {
                AttrError {
                    action: Action::Withdraw,
                    cause: Malformation::new(off, name, why).in_attribute(type_code),
                }
            })?)
        }
        LARGE_COMMUNITY => {
            if len == 0 || len % 12 != 0 {
                return Err(bad_len(Action::Withdraw, "a non-zero multiple of 12"));
            }
            let mut cs = Vec::with_capacity(len / 12);
            while let (Some(global), Some(local1), Some(local2)) = (v.u32(), v.u32(), v.u32()) {
                cs.push(LargeCommunity {
                    global,
                    local1,
                    local2,
                });
            }
            PathAttribute::LargeCommunities(cs)
        }
        MP_REACH_NLRI => {
            return decode_mp_reach(ctx, v, raw).map(|(m, semantic)| Decoded::MpReach(m, semantic))
        }
        MP_UNREACH_NLRI => return decode_mp_unreach(ctx, v, raw).map(Decoded::MpUnreach),
        _ => {
            if flags & flag::OPTIONAL == 0 {
                return Err(AttrError {
                    action: Action::Reset(
                        code::UPDATE_MESSAGE,
                        subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                        raw.to_vec(),
                    ),
                    // Point at the attribute's first byte: flags, type and a one- or
                    // two-octet length precede the value.
                    cause: Malformation::new(
                        at.saturating_sub(if flags & flag::EXTENDED_LENGTH != 0 {
                            4
                        } else {
                            3
                        }),
                        "attribute.type",
                        format!("unrecognized well-known attribute type {type_code}"),
                    )
                    .in_attribute(type_code),
                });
            }
            PathAttribute::Unknown(UnknownAttribute {
                flags: flags & !flag::EXTENDED_LENGTH,
                type_code,
                value: v.take_rest().to_vec(),
            })
        }
    };
    Ok(Decoded::Attr(attr))
}

/// An AS_PATH/AS4_PATH as read, and the offset of its first AS number 0, which RFC 7607 §2
/// makes the attribute malformed (the caller decides the RFC 7606 action).
struct ReadAsPath {
    path: AsPath,
    as0_at: Option<usize>,
}

fn decode_as_path(v: &mut Reader<'_>, four_octet: bool) -> Result<ReadAsPath, (usize, String)> {
    let width = if four_octet { 4 } else { 2 };
    let mut segments = Vec::new();
    let mut as0_at = None;
    while !v.is_empty() {
        let at = v.offset();
        let kind_raw = v.u8().ok_or((at, "missing segment type".to_string()))?;
        let kind = SegmentType::from_u8(kind_raw)
            .ok_or_else(|| (at, format!("undefined segment type {kind_raw}")))?;
        let count = v
            .u8()
            .ok_or_else(|| (at + 1, "missing segment length".to_string()))?;
        if count == 0 {
            return Err((at + 1, "segment with zero AS numbers".into()));
        }
        let asns_at = v.offset();
        let bytes = v.take(usize::from(count) * width).ok_or_else(|| {
            (
                at + 1,
                format!("segment of {count} AS numbers overruns the attribute"),
            )
        })?;
        let asns: Vec<u32> = bytes
            .chunks_exact(width)
            .map(|c| {
                if four_octet {
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    u32::from(u16::from_be_bytes([c[0], c[1]]))
                }
            })
            .collect();
        if as0_at.is_none() {
            as0_at = asns
                .iter()
                .position(|a| *a == 0)
                .map(|i| asns_at + i * width);
        }
        segments.push(AsSegment { kind, asns });
    }
    Ok(ReadAsPath {
        path: AsPath { segments },
        as0_at,
    })
}

fn decode_pmsi(v: &mut Reader<'_>) -> Result<PmsiTunnel, String> {
    let len = v.remaining();
    let (Some(flags), Some(tunnel_type), Some(label)) = (v.u8(), v.u8(), v.u24()) else {
        return Err(format!("PMSI_TUNNEL length {len} (at least 5)"));
    };
    let id = v.take_rest();
    let tunnel = if tunnel_type == pmsi_type::INGRESS_REPLICATION {
        match id.len() {
            4 => PmsiTunnelId::IngressReplication(IpAddr::V4(Ipv4Addr::new(
                id[0], id[1], id[2], id[3],
            ))),
            16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(id);
                PmsiTunnelId::IngressReplication(IpAddr::V6(Ipv6Addr::from(b)))
            }
            n => {
                return Err(format!(
                    "ingress replication tunnel identifier of {n} bytes (expected 4 or 16)"
                ))
            }
        }
    } else {
        PmsiTunnelId::Other {
            tunnel_type,
            id: id.to_vec(),
        }
    };
    Ok(PmsiTunnel {
        flags,
        label: Label::from_raw(label),
        tunnel,
    })
}

fn decode_tunnel_encap(v: &mut Reader<'_>) -> Result<Vec<TunnelTlv>, (usize, String)> {
    let mut tlvs = Vec::new();
    if v.is_empty() {
        return Err((v.offset(), "empty Tunnel Encapsulation attribute".into()));
    }
    while !v.is_empty() {
        let at = v.offset();
        let (Some(tunnel_type), Some(tlv_len)) = (v.u16(), v.u16()) else {
            return Err((at, "truncated Tunnel TLV header".into()));
        };
        let mut t = v.sub(usize::from(tlv_len)).ok_or_else(|| {
            (
                at + 2,
                format!("Tunnel TLV length {tlv_len} overruns the attribute"),
            )
        })?;
        let mut sub_tlvs = Vec::new();
        while !t.is_empty() {
            let sat = t.offset();
            let sub_type = t.u8().ok_or((sat, "missing sub-TLV type".to_string()))?;
            let sub_len = if sub_type >= 128 {
                t.u16().map(usize::from)
            } else {
                t.u8().map(usize::from)
            }
            .ok_or_else(|| (sat + 1, "truncated sub-TLV length".to_string()))?;
            let value = t.take(sub_len).ok_or_else(|| {
                (
                    sat + 1,
                    format!("sub-TLV length {sub_len} overruns its Tunnel TLV"),
                )
            })?;
            sub_tlvs.push(TunnelSubTlv {
                sub_type,
                value: value.to_vec(),
            });
        }
        tlvs.push(TunnelTlv {
            tunnel_type,
            sub_tlvs,
        });
    }
    Ok(tlvs)
}

/// Reads AFI/SAFI of an MP attribute. Too short to name a family: session reset (RFC 7606
/// §7.11 cannot apply AFI/SAFI disable to an unknown family).
fn read_family(v: &mut Reader<'_>, raw: &[u8], type_code: u8) -> Result<Family, AttrError> {
    let at = v.offset();
    match (v.u16(), v.u8()) {
        (Some(afi), Some(safi)) => Ok(Family::new(Afi(afi), Safi(safi))),
        _ => Err(AttrError {
            action: Action::Reset(
                code::UPDATE_MESSAGE,
                subcode::OPTIONAL_ATTRIBUTE_ERROR,
                raw.to_vec(),
            ),
            cause: Malformation::new(at, attr_name(type_code), "too short to hold AFI and SAFI")
                .in_attribute(type_code),
        }),
    }
}

fn decode_mp_reach(
    ctx: &CodecContext,
    v: &mut Reader<'_>,
    raw: &[u8],
) -> Result<(MpReach, Vec<Malformation>), AttrError> {
    let t = attr_type::MP_REACH_NLRI;
    let family = read_family(v, raw, t)?;
    let disable = |off: usize, field: &'static str, why: String| AttrError {
        action: Action::Disable(family),
        cause: Malformation::new(off, field, why).in_attribute(t),
    };
    let nh_at = v.offset();
    let nh_len = v.u8().ok_or_else(|| {
        disable(
            nh_at,
            "MP_REACH_NLRI.next_hop_length",
            "missing next hop length".into(),
        )
    })?;
    let nh_bytes = v.take(usize::from(nh_len)).ok_or_else(|| {
        disable(
            nh_at,
            "MP_REACH_NLRI.next_hop_length",
            format!("next hop length {nh_len} overruns the attribute"),
        )
    })?;
    let next_hop = if family.is_known() {
        let allowed: &[u8] = match family {
            Family::IPV6_UNICAST => &[16, 32],
            _ => &[4, 16, 32],
        };
        if !allowed.contains(&nh_len) {
            return Err(disable(
                nh_at,
                "MP_REACH_NLRI.next_hop_length",
                format!("next hop length {nh_len} for {family} (allowed: {allowed:?})"),
            ));
        }
        parse_next_hop(nh_bytes)
    } else {
        NextHop::Opaque(nh_bytes.to_vec())
    };
    let snpa_at = v.offset();
    v.u8().ok_or_else(|| {
        disable(
            snpa_at,
            "MP_REACH_NLRI.reserved",
            "missing reserved octet".into(),
        )
    })?;
    let (nlri, skipped_routes, opaque_nlri, semantic) =
        decode_mp_nlri(ctx, v, family, t, "MP_REACH_NLRI.nlri")?;
    Ok((
        MpReach {
            family,
            next_hop,
            nlri,
            skipped_routes,
            opaque_nlri,
        },
        semantic,
    ))
}

fn parse_next_hop(b: &[u8]) -> NextHop {
    let v6 = |s: &[u8]| {
        let mut a = [0u8; 16];
        a.copy_from_slice(s);
        Ipv6Addr::from(a)
    };
    match b.len() {
        4 => NextHop::Ipv4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        16 => NextHop::Ipv6 {
            global: v6(b),
            link_local: None,
        },
        32 => NextHop::Ipv6 {
            global: v6(&b[..16]),
            link_local: Some(v6(&b[16..])),
        },
        _ => NextHop::Opaque(b.to_vec()),
    }
}

fn decode_mp_unreach(
    ctx: &CodecContext,
    v: &mut Reader<'_>,
    raw: &[u8],
) -> Result<MpUnreach, AttrError> {
    let t = attr_type::MP_UNREACH_NLRI;
    let family = read_family(v, raw, t)?;
    // Withdrawals need no usable content: semantic findings do not matter for them.
    let (nlri, skipped_routes, opaque_nlri, _) =
        decode_mp_nlri(ctx, v, family, t, "MP_UNREACH_NLRI.nlri")?;
    Ok(MpUnreach {
        family,
        nlri,
        skipped_routes,
        opaque_nlri,
    })
}

type MpNlri = (Vec<Nlri>, u32, Vec<u8>, Vec<Malformation>);

fn decode_mp_nlri(
    ctx: &CodecContext,
    v: &mut Reader<'_>,
    family: Family,
    type_code: u8,
    field: &'static str,
) -> Result<MpNlri, AttrError> {
    if !family.is_known() {
        return Ok((Vec::new(), 0, v.take_rest().to_vec(), Vec::new()));
    }
    let list =
        decode_nlri_list(v, family, ctx.has_path_id(family), field).map_err(|m| AttrError {
            action: Action::Disable(family),
            cause: m.in_attribute(type_code),
        })?;
    let semantic = list
        .semantic_errors
        .into_iter()
        .map(|m| m.in_attribute(type_code))
        .collect();
    Ok((list.routes, list.skipped, Vec::new(), semantic))
}
