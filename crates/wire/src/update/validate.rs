//! What the encoder accepts: an UPDATE that the peer decodes to exactly the same value, with
//! outcome "accept" (the exact round trip of DESIGN.md §5).

use super::decode::type5_findings;
use super::{AttrSet, Update};
use crate::attribute::{
    attr_name, attr_type, expected_flags, flag, NextHop, PathAttribute, PmsiTunnelId,
};
use crate::context::CodecContext;
use crate::error::EncodeError;
use crate::evpn::EvpnRoute;
use crate::nlri::{Nlri, Route};
use crate::types::Family;

pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> EncodeError {
    EncodeError::InvalidValue {
        field,
        reason: reason.into(),
    }
}

/// Checks that `u` can be encoded for a session with context `ctx` such that the peer decodes
/// exactly `u` and accepts it.
pub fn validate_update(ctx: &CodecContext, u: &Update) -> Result<(), EncodeError> {
    let mut seen = AttrSet::default();
    for a in &u.attributes {
        let t = a.type_code();
        if !seen.insert(t) {
            return Err(invalid(
                "attributes",
                format!("{} appears twice", attr_name(t)),
            ));
        }
        match a {
            PathAttribute::AsPath(p) | PathAttribute::As4Path(p) if p.contains(0) => {
                return Err(invalid(attr_name(t), "AS number 0 (RFC 7607 §2)"));
            }
            PathAttribute::Aggregator(ag) | PathAttribute::As4Aggregator(ag) if ag.asn == 0 => {
                return Err(invalid(attr_name(t), "AS number 0 (RFC 7607 §2)"));
            }
            PathAttribute::AsPath(p) => {
                for s in &p.segments {
                    if s.asns.is_empty() || s.asns.len() > 255 {
                        return Err(invalid("AS_PATH", "segments hold 1..=255 AS numbers"));
                    }
                    if !ctx.four_octet_as && s.asns.iter().any(|a| *a > u32::from(u16::MAX)) {
                        return Err(invalid(
                            "AS_PATH",
                            "4-octet AS on a 2-octet session: substitute AS_TRANS and send AS4_PATH (RFC 6793 §4.2.2)",
                        ));
                    }
                    if ctx.external_peer && s.kind.is_confed() {
                        return Err(invalid(
                            "AS_PATH",
                            "confederation segment to an external peer",
                        ));
                    }
                }
            }
            PathAttribute::As4Path(p) => {
                if ctx.four_octet_as {
                    return Err(invalid(
                        "AS4_PATH",
                        "not sent between 4-octet AS speakers (RFC 6793 §4.1)",
                    ));
                }
                if p.segments.is_empty()
                    || p.segments
                        .iter()
                        .any(|s| s.asns.is_empty() || s.asns.len() > 255 || s.kind.is_confed())
                {
                    return Err(invalid(
                        "AS4_PATH",
                        "1 or more segments of 1..=255 AS numbers, no confederation segments",
                    ));
                }
            }
            PathAttribute::As4Aggregator(_) if ctx.four_octet_as => {
                return Err(invalid(
                    "AS4_AGGREGATOR",
                    "not sent between 4-octet AS speakers (RFC 6793 §4.1)",
                ));
            }
            PathAttribute::Aggregator(ag) if !ctx.four_octet_as && ag.asn > u32::from(u16::MAX) => {
                return Err(invalid("AGGREGATOR", "4-octet AS on a 2-octet session"));
            }
            PathAttribute::LocalPref(_)
            | PathAttribute::OriginatorId(_)
            | PathAttribute::ClusterList(_)
                if ctx.external_peer =>
            {
                return Err(invalid(attr_name(t), "not sent to an external peer"));
            }
            PathAttribute::Communities(c) if c.is_empty() => {
                return Err(invalid("COMMUNITIES", "empty"));
            }
            PathAttribute::ExtendedCommunities(c) if c.is_empty() => {
                return Err(invalid("EXTENDED_COMMUNITIES", "empty"));
            }
            PathAttribute::LargeCommunities(c) if c.is_empty() => {
                return Err(invalid("LARGE_COMMUNITY", "empty"));
            }
            PathAttribute::Ipv6ExtendedCommunities(c) if c.is_empty() => {
                return Err(invalid("IPV6_EXTENDED_COMMUNITIES", "empty"));
            }
            PathAttribute::ClusterList(c) if c.is_empty() => {
                return Err(invalid("CLUSTER_LIST", "empty"));
            }
            PathAttribute::PmsiTunnel(p) => {
                if let PmsiTunnelId::Other { tunnel_type: 6, .. } = p.tunnel {
                    return Err(invalid(
                        "PMSI_TUNNEL",
                        "ingress replication must use PmsiTunnelId::IngressReplication",
                    ));
                }
            }
            PathAttribute::TunnelEncapsulation(tlvs) => {
                if tlvs.is_empty() {
                    return Err(invalid("TUNNEL_ENCAPSULATION", "no Tunnel TLV"));
                }
                for tlv in tlvs {
                    let mut len = 0usize;
                    for s in &tlv.sub_tlvs {
                        let max = if s.sub_type >= 128 { 65535 } else { 255 };
                        if s.value.len() > max {
                            return Err(invalid("TUNNEL_ENCAPSULATION", "sub-TLV value too long"));
                        }
                        len += s.value.len() + if s.sub_type >= 128 { 3 } else { 2 };
                    }
                    if len > 65535 {
                        return Err(invalid("TUNNEL_ENCAPSULATION", "Tunnel TLV too long"));
                    }
                }
            }
            PathAttribute::Unknown(x) => {
                if expected_flags(t).is_some()
                    || matches!(t, attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI)
                {
                    return Err(invalid(
                        "attributes",
                        format!("unknown attribute with the known type code {t}"),
                    ));
                }
                if x.flags & flag::OPTIONAL == 0 {
                    return Err(invalid("attributes", "unknown attributes must be optional"));
                }
            }
            _ => {}
        }
    }
    // RFC 4271 §4.3: only optional transitive attributes carry the Partial bit, and the
    // decoder records it for the known ones present (unknown ones keep it in their flags).
    for t in 0..=u8::MAX {
        let opt_trans = expected_flags(t) == Some(flag::OPTIONAL | flag::TRANSITIVE);
        if u.partial.contains(t) && !(opt_trans && seen.contains(t)) {
            return Err(invalid(
                "partial",
                format!(
                    "{} is not a known optional transitive attribute of this UPDATE",
                    attr_name(t)
                ),
            ));
        }
    }
    if u.mp_reach.is_some() || !u.nlri.is_empty() {
        for t in [attr_type::ORIGIN, attr_type::AS_PATH] {
            if !seen.contains(t) {
                return Err(invalid(
                    "attributes",
                    format!("{} is mandatory when announcing", attr_name(t)),
                ));
            }
        }
    }
    if !u.nlri.is_empty() && !seen.contains(attr_type::NEXT_HOP) {
        return Err(invalid(
            "attributes",
            "NEXT_HOP is mandatory with IPv4 NLRI",
        ));
    }
    let v4 = Family::IPV4_UNICAST;
    check_nlri(ctx, v4, &u.withdrawn)?;
    check_nlri(ctx, v4, &u.nlri)?;
    if let Some(m) = &u.mp_reach {
        check_mp_family(m.family, &m.nlri, &m.opaque_nlri)?;
        check_nlri(ctx, m.family, &m.nlri)?;
        if m.skipped_routes != 0 {
            return Err(invalid(
                "MP_REACH_NLRI",
                "skipped_routes must be 0 when encoding",
            ));
        }
        if m.family.is_known() {
            let ok = !matches!(
                (&m.next_hop, m.family),
                (NextHop::Opaque(_), _) | (NextHop::Ipv4(_), Family::IPV6_UNICAST)
            );
            if !ok {
                return Err(invalid(
                    "MP_REACH_NLRI.next_hop",
                    format!("not valid for {}", m.family),
                ));
            }
        } else if !matches!(m.next_hop, NextHop::Opaque(_)) {
            return Err(invalid(
                "MP_REACH_NLRI.next_hop",
                "unknown families take an opaque next hop",
            ));
        }
        if m.next_hop.encoded_len() > 255 {
            return Err(invalid("MP_REACH_NLRI.next_hop", "longer than 255 bytes"));
        }
        for n in &m.nlri {
            if let Route::Evpn(r) = &n.route {
                if let Some(why) = r.semantic_error() {
                    return Err(invalid("MP_REACH_NLRI.nlri", why));
                }
            }
        }
        if let Some(m) = type5_findings(u, 0).into_iter().next() {
            return Err(invalid("MP_REACH_NLRI.nlri", m.reason));
        }
    }
    if let Some(m) = &u.mp_unreach {
        check_mp_family(m.family, &m.nlri, &m.opaque_nlri)?;
        check_nlri(ctx, m.family, &m.nlri)?;
        if m.skipped_routes != 0 {
            return Err(invalid(
                "MP_UNREACH_NLRI",
                "skipped_routes must be 0 when encoding",
            ));
        }
    }
    Ok(())
}

fn check_mp_family(family: Family, nlri: &[Nlri], opaque: &[u8]) -> Result<(), EncodeError> {
    if family.is_known() && !opaque.is_empty() {
        return Err(invalid(
            "opaque_nlri",
            format!("{family} NLRI must be typed"),
        ));
    }
    if !family.is_known() && !nlri.is_empty() {
        return Err(invalid("nlri", format!("{family} takes opaque NLRI only")));
    }
    Ok(())
}

pub(super) fn check_nlri(
    ctx: &CodecContext,
    family: Family,
    nlri: &[Nlri],
) -> Result<(), EncodeError> {
    let with_id = ctx.has_path_id(family);
    for n in nlri {
        if n.route.family() != family {
            return Err(invalid(
                "nlri",
                format!("a {} route in a {family} field", n.route.family()),
            ));
        }
        if n.path_id.is_some() != with_id {
            return Err(invalid(
                "nlri.path_id",
                "present exactly when ADD-PATH is negotiated for the family",
            ));
        }
        match &n.route {
            Route::Ipv4(p) if !p.addr().is_ipv4() => {
                return Err(invalid("nlri", "IPv6 prefix as IPv4"))
            }
            Route::Ipv6(p) if !p.addr().is_ipv6() => {
                return Err(invalid("nlri", "IPv4 prefix as IPv6"))
            }
            Route::Evpn(EvpnRoute::IpPrefix(r)) => {
                let max = if r.prefix.is_ipv4() { 32 } else { 128 };
                if r.prefix.is_ipv4() != r.gateway.is_ipv4() || r.prefix_len > max {
                    return Err(invalid(
                        "EVPN_NLRI",
                        "type-5 prefix and gateway of one family, prefix length within it",
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod as_zero_tests {
    use super::*;
    use crate::attribute::{Aggregator, AsPath};
    use std::net::Ipv4Addr;

    /// RFC 7607 §2: a speaker must not originate or propagate AS 0 in AS_PATH, AS4_PATH,
    /// AGGREGATOR or AS4_AGGREGATOR, and the decoder takes it as malformed; so the encoder
    /// refuses it.
    #[test]
    fn as_zero_is_not_encodable() {
        let four = CodecContext::default();
        let two = CodecContext {
            four_octet_as: false,
            ..CodecContext::default()
        };
        let aggregator = Aggregator {
            asn: 0,
            address: Ipv4Addr::new(198, 18, 0, 1),
        };
        for (ctx, a) in [
            (
                &four,
                PathAttribute::AsPath(AsPath::sequence(vec![65001, 0])),
            ),
            (&two, PathAttribute::As4Path(AsPath::sequence(vec![0]))),
            (&four, PathAttribute::Aggregator(aggregator)),
            (&two, PathAttribute::As4Aggregator(aggregator)),
        ] {
            let u = Update {
                attributes: vec![a.clone()],
                ..Update::default()
            };
            assert!(
                matches!(
                    validate_update(ctx, &u),
                    Err(EncodeError::InvalidValue { .. })
                ),
                "{a:?} accepted"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod partial_tests {
    use super::*;
    use crate::community::Community;
    use crate::update::encode_update;

    /// Found by the property tests' review: a Partial mark on an attribute the UPDATE does not
    /// carry (or one that cannot be partial) passed validation, then encoded to an UPDATE that
    /// decodes differently (and tripped the debug round-trip assertion).
    #[test]
    fn partial_names_only_present_optional_transitive_attributes() {
        let ctx = CodecContext::default();
        let communities = PathAttribute::Communities(vec![Community(0xfde9_0064)]);
        let mut u = Update {
            attributes: vec![communities],
            ..Update::default()
        };
        u.partial.insert(attr_type::COMMUNITIES);
        assert_eq!(validate_update(&ctx, &u), Ok(()));
        let mut out = Vec::new();
        encode_update(&ctx, &u, &mut out).unwrap();
        // Flags: optional, transitive, partial (RFC 4271 §4.3).
        assert_eq!(out[23], 0xe0);

        for t in [attr_type::LARGE_COMMUNITY, attr_type::ORIGIN] {
            let mut bad = u.clone();
            bad.partial.insert(t);
            assert!(
                matches!(
                    validate_update(&ctx, &bad),
                    Err(EncodeError::InvalidValue {
                        field: "partial",
                        ..
                    })
                ),
                "partial {t} accepted"
            );
            assert!(encode_update(&ctx, &bad, &mut Vec::new()).is_err());
        }
    }
}
