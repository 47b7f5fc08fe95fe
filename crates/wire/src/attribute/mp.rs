//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3–4): routes of any family with their next
//! hop, and their RFC 7606 §7.11 / §5.3 error actions.

use super::decode::{Action, AttrError};
use super::{attr_name, attr_type, flag, write_attribute};
use crate::context::CodecContext;
use crate::error::{code, subcode, Malformation};
use crate::nlri::{decode_nlri_list, Nlri};
use crate::reader::Reader;
use crate::types::{Afi, Family, Safi};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

pub(super) fn decode_mp_reach(
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

pub(super) fn decode_mp_unreach(
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
