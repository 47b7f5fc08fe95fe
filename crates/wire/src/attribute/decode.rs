//! Decoding one path attribute, with the action RFC 7606 (§7 and the attribute RFCs) asks for
//! when it is malformed.

use super::as_path::{decode_as_path, ReadAsPath};
use super::mp::{decode_mp_reach, decode_mp_unreach};
use super::pmsi::decode_pmsi;
use super::tunnel_encap::decode_tunnel_encap;
use super::{
    attr_name, attr_type, flag, Aggregator, MpReach, MpUnreach, Origin, PathAttribute,
    UnknownAttribute,
};
use crate::community::{Community, ExtendedCommunity, Ipv6ExtendedCommunity, LargeCommunity};
use crate::context::CodecContext;
use crate::error::{code, subcode, Malformation};
use crate::reader::Reader;
use crate::types::Family;
use std::net::Ipv4Addr;

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
