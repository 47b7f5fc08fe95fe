//! Decoding an UPDATE (RFC 4271 §4.3, RFC 4760) with the revised error handling of RFC 7606:
//! every finding, the most severe action, and the cases that still reset the session.

use super::{AttrSet, Update};
use crate::attribute::{
    attr_name, attr_type, decode_attribute, expected_flags, flag, Action, Decoded, PathAttribute,
};
use crate::context::CodecContext;
use crate::error::{code, subcode, Malformation, Outcome, Reset};
use crate::evpn::EvpnRoute;
use crate::message::HEADER_LEN;
use crate::nlri::{decode_nlri_list, Route};
use crate::reader::Reader;
use crate::types::Family;

/// Tracks the findings in one UPDATE and the most severe action (RFC 7606 §3).
#[derive(Default)]
struct Findings {
    discards: Vec<Malformation>,
    withdraws: Vec<Malformation>,
    disable: Option<(Family, Malformation)>,
}

impl Findings {
    /// Records an AFI/SAFI-disable finding; only the first disable is kept as the cause, later
    /// ones are listed as withdraw findings (as the attribute loop does).
    fn disable_or_withdraw(&mut self, family: Family, cause: Malformation) {
        if self.disable.is_none() {
            self.disable = Some((family, cause));
        } else {
            self.withdraws.push(cause);
        }
    }

    fn into_outcome(self) -> Outcome {
        if let Some((family, cause)) = self.disable {
            return Outcome::AfiSafiDisable { family, cause };
        }
        if !self.withdraws.is_empty() {
            let mut all = self.withdraws;
            all.extend(self.discards);
            return Outcome::TreatAsWithdraw(all);
        }
        if !self.discards.is_empty() {
            return Outcome::AttributeDiscard(self.discards);
        }
        Outcome::Accept
    }
}

fn reset(code: u8, sub: u8, data: Vec<u8>, m: Malformation) -> Reset {
    Reset::new(code, sub, data, m)
}

/// Decodes an UPDATE body. `msg` is the whole message (for NOTIFICATION data); the body starts
/// at offset 19.
pub(crate) fn decode_update(ctx: &CodecContext, msg: &[u8]) -> Result<(Update, Outcome), Reset> {
    let body = msg.get(HEADER_LEN..).unwrap_or_default();
    let mut r = Reader::new(body, HEADER_LEN);
    let malformed_list = |m: Malformation| {
        reset(
            code::UPDATE_MESSAGE,
            subcode::MALFORMED_ATTRIBUTE_LIST,
            Vec::new(),
            m,
        )
    };
    let wl_at = r.offset();
    let wlen = r.u16().ok_or_else(|| {
        malformed_list(Malformation::new(
            wl_at,
            "withdrawn_routes_length",
            "missing",
        ))
    })?;
    let mut withdrawn_r = r.sub(usize::from(wlen)).ok_or_else(|| {
        malformed_list(Malformation::new(
            wl_at,
            "withdrawn_routes_length",
            format!("{wlen} overruns the message"),
        ))
    })?;
    let tal_at = r.offset();
    let tal = r.u16().ok_or_else(|| {
        malformed_list(Malformation::new(
            tal_at,
            "total_path_attribute_length",
            "missing",
        ))
    })?;
    let mut attrs_r = r.sub(usize::from(tal)).ok_or_else(|| {
        malformed_list(Malformation::new(
            tal_at,
            "total_path_attribute_length",
            format!("{tal} overruns the message"),
        ))
    })?;
    let mut nlri_r = r;

    let invalid_network = |m: Malformation| {
        reset(
            code::UPDATE_MESSAGE,
            subcode::INVALID_NETWORK_FIELD,
            Vec::new(),
            m,
        )
    };
    let v4 = Family::IPV4_UNICAST;
    let withdrawn = decode_nlri_list(
        &mut withdrawn_r,
        v4,
        ctx.has_path_id(v4),
        "withdrawn_routes",
    )
    .map_err(invalid_network)?
    .routes;

    let mut u = Update {
        withdrawn,
        ..Update::default()
    };
    let mut f = Findings::default();
    let mut seen = AttrSet::default();
    // An attribute whose length runs past the attribute list ends the parsing (RFC 7606 §4).
    let mut overrun: Option<Malformation> = None;
    // Where each attribute sits in `body`, for NOTIFICATION data (RFC 4271 §6.3).
    let mut raw_ranges: Vec<(u8, std::ops::Range<usize>)> = Vec::new();
    while !attrs_r.is_empty() {
        let start = attrs_r.offset();
        let local_start = start - HEADER_LEN;
        let overrun_at = |why: String| Malformation::new(start, "path_attributes", why);
        let (Some(flags), Some(type_code)) = (attrs_r.u8(), attrs_r.u8()) else {
            overrun = Some(overrun_at(
                "fewer than 3 bytes left for an attribute header (RFC 7606 §4)".into(),
            ));
            break;
        };
        let len = if flags & flag::EXTENDED_LENGTH != 0 {
            attrs_r.u16().map(usize::from)
        } else {
            attrs_r.u8().map(usize::from)
        };
        let Some(len) = len else {
            overrun = Some(overrun_at(format!(
                "attribute {} header truncated (RFC 7606 §4)",
                attr_name(type_code)
            )));
            break;
        };
        let Some(mut v) = attrs_r.sub(len) else {
            overrun = Some(
                overrun_at(format!(
                    "{} length {len} overruns the Total Path Attribute Length (RFC 7606 §4)",
                    attr_name(type_code)
                ))
                .in_attribute(type_code),
            );
            break;
        };
        let raw_range = local_start..attrs_r.offset() - HEADER_LEN;
        let raw = body.get(raw_range.clone()).unwrap_or_default();
        raw_ranges.push((type_code, raw_range));
        let is_mp = matches!(
            type_code,
            attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI
        );
        if !seen.insert(type_code) {
            let m = Malformation::new(
                start,
                "path_attributes",
                format!("{} appears more than once", attr_name(type_code)),
            )
            .in_attribute(type_code);
            if is_mp {
                // RFC 7606 §3(g).
                return Err(malformed_list(m));
            }
            // RFC 7606 §3(g): all but the first occurrence are discarded.
            f.discards.push(m);
            continue;
        }
        let flags_wrong = expected_flags(type_code)
            .is_some_and(|want| flags & (flag::OPTIONAL | flag::TRANSITIVE) != want);
        match decode_attribute(ctx, flags, type_code, &mut v, raw) {
            Ok(Decoded::Attr(a)) => {
                if flags_wrong {
                    f.withdraws.push(flags_error(start, flags, type_code));
                    continue;
                }
                let opt_trans = flag::OPTIONAL | flag::TRANSITIVE;
                if flags & flag::PARTIAL != 0
                    && flags & opt_trans == opt_trans
                    && !matches!(a, PathAttribute::Unknown(_))
                {
                    u.partial.insert(type_code);
                }
                u.attributes.push(a);
            }
            Ok(Decoded::Ignored(m)) => f.discards.push(m),
            Ok(Decoded::MpReach(m, semantic)) => {
                if flags_wrong {
                    // RFC 7606 §5.3(c): wrong MP flags make the attribute incorrect, which
                    // §3(j) answers with AFI/SAFI disable, not treat-as-withdraw.
                    f.disable_or_withdraw(m.family, flags_error(start, flags, type_code));
                }
                f.withdraws.extend(semantic);
                u.mp_reach = Some(m);
            }
            Ok(Decoded::MpUnreach(m)) => {
                if flags_wrong {
                    f.disable_or_withdraw(m.family, flags_error(start, flags, type_code));
                }
                u.mp_unreach = Some(m);
            }
            Err(e) => match e.action {
                Action::Discard => f.discards.push(e.cause),
                Action::Withdraw => f.withdraws.push(e.cause),
                Action::Disable(family) => {
                    if f.disable.is_none() {
                        f.disable = Some((family, e.cause));
                    } else {
                        f.withdraws.push(e.cause);
                    }
                }
                Action::Reset(c, s, data) => return Err(reset(c, s, data, e.cause)),
            },
        }
    }

    u.nlri = decode_nlri_list(&mut nlri_r, v4, ctx.has_path_id(v4), "nlri")
        .map_err(invalid_network)?
        .routes;

    if let Some(m) = overrun {
        let mp_seen =
            seen.contains(attr_type::MP_REACH_NLRI) || seen.contains(attr_type::MP_UNREACH_NLRI);
        if !mp_seen && u.nlri.is_empty() && u.withdrawn.is_empty() {
            // Routes may sit in an MP attribute we could not reach: treat-as-withdraw cannot
            // name them (RFC 7606 §3(j)).
            return Err(malformed_list(m));
        }
        f.withdraws.push(m);
        // Mandatory attributes may sit past the break; their absence is not a second finding.
        check_no_reachable_nlri(&u, &seen, &f, body, &raw_ranges)?;
        return Ok((u, f.into_outcome()));
    }

    f.withdraws
        .extend(type5_findings(&u, HEADER_LEN + body.len()));

    // RFC 7606 §3(d): well-known mandatory attributes, when there is something to announce.
    let announces = !u.nlri.is_empty() || u.mp_reach.is_some();
    if announces {
        let end = HEADER_LEN + body.len();
        let mut require = |type_code: u8| {
            if !seen.contains(type_code) {
                f.withdraws.push(
                    Malformation::new(
                        end,
                        "path_attributes",
                        format!(
                            "missing well-known attribute {} (RFC 7606 §3(d))",
                            attr_name(type_code)
                        ),
                    )
                    .in_attribute(type_code),
                );
            }
        };
        require(attr_type::ORIGIN);
        require(attr_type::AS_PATH);
        if !u.nlri.is_empty() {
            require(attr_type::NEXT_HOP);
        }
    }
    check_no_reachable_nlri(&u, &seen, &f, body, &raw_ranges)?;
    Ok((u, f.into_outcome()))
}

/// RFC 7606 §5.2: an UPDATE that carries path attributes (other than MP_UNREACH_NLRI) but no
/// reachable NLRI, and has an error calling for more than attribute-discard, cannot be handled
/// by treat-as-withdraw; the session is reset with the RFC 4271 §6.3 code of the error.
fn check_no_reachable_nlri(
    u: &Update,
    seen: &AttrSet,
    f: &Findings,
    body: &[u8],
    raw_ranges: &[(u8, std::ops::Range<usize>)],
) -> Result<(), Reset> {
    // An MP_REACH_NLRI that was present but could not be parsed still means the message
    // carried reachable NLRI (its outcome is then AFI/SAFI disable, not this rule).
    let reachable = !u.nlri.is_empty() || seen.contains(attr_type::MP_REACH_NLRI);
    let mut other_than_unreach = *seen;
    other_than_unreach.remove(attr_type::MP_UNREACH_NLRI);
    if reachable || other_than_unreach.is_empty() {
        return Ok(());
    }
    let Some(cause) = f.withdraws.first() else {
        return Ok(());
    };
    let raw = |t: u8| {
        raw_ranges
            .iter()
            .find(|(code, _)| *code == t)
            .and_then(|(_, r)| body.get(r.clone()))
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    };
    let (sub, data) = legacy_update_error(cause, raw);
    let mut cause = cause.clone();
    cause.reason = format!(
        "{} (no reachable NLRI: session reset, RFC 7606 §5.2)",
        cause.reason
    );
    Err(reset(code::UPDATE_MESSAGE, sub, data, cause))
}

/// The RFC 4271 §6.3 subcode and data of an UPDATE error, for the cases where RFC 7606 still
/// resets the session. `raw` gives the whole attribute of a type code as received.
fn legacy_update_error(m: &Malformation, raw: impl Fn(u8) -> Vec<u8>) -> (u8, Vec<u8>) {
    let Some(t) = m.attribute else {
        return (subcode::MALFORMED_ATTRIBUTE_LIST, Vec::new());
    };
    if m.field == "attribute.flags" {
        return (subcode::ATTRIBUTE_FLAGS_ERROR, raw(t));
    }
    if m.reason.starts_with("missing well-known attribute") {
        return (subcode::MISSING_WELL_KNOWN_ATTRIBUTE, vec![t]);
    }
    if m.field == "path_attributes" {
        // The attribute list itself is broken (an overrun).
        return (subcode::MALFORMED_ATTRIBUTE_LIST, Vec::new());
    }
    let length_error = m.reason.contains(" length ");
    match t {
        attr_type::AS_PATH => (subcode::MALFORMED_AS_PATH, Vec::new()),
        attr_type::ORIGIN if !length_error => (subcode::INVALID_ORIGIN, raw(t)),
        _ if length_error => (subcode::ATTRIBUTE_LENGTH_ERROR, raw(t)),
        attr_type::NEXT_HOP => (subcode::INVALID_NEXT_HOP, raw(t)),
        _ => (subcode::OPTIONAL_ATTRIBUTE_ERROR, raw(t)),
    }
}

/// RFC 9136 §3.2 rules that need both the type-5 routes and the Router's MAC extended
/// community: a Router's MAC that is not a unicast MAC, or a route with no overlay index (zero
/// ESI, gateway and Router's MAC) and label 0, is treat-as-withdraw.
pub(crate) fn type5_findings(u: &Update, at: usize) -> Vec<Malformation> {
    let Some(reach) = &u.mp_reach else {
        return Vec::new();
    };
    let mut type5 = reach.nlri.iter().filter_map(|n| match &n.route {
        Route::Evpn(EvpnRoute::IpPrefix(r)) => Some(r),
        _ => None,
    });
    let Some(first) = type5.next() else {
        return Vec::new();
    };
    let router_mac = u
        .extended_communities()
        .iter()
        .find_map(|c| match c.kind() {
            crate::ExtCommunityKind::RouterMac(m) => Some(m),
            _ => None,
        });
    let finding = |why: &str| {
        vec![Malformation::new(at, "MP_REACH_NLRI.nlri", why).in_attribute(attr_type::MP_REACH_NLRI)]
    };
    if let Some(mac) = router_mac {
        if mac.is_multicast() || mac.is_zero() {
            return finding("Router's MAC extended community with a multicast or zero MAC on IP prefix routes (RFC 9136 §3.2)");
        }
        return Vec::new();
    }
    for r in std::iter::once(first).chain(type5) {
        if r.esi.is_zero() && r.gateway.is_unspecified() && r.label.raw() == 0 {
            return finding("IP prefix route with no overlay index and label 0 (RFC 9136 §3.2)");
        }
    }
    Vec::new()
}

fn flags_error(at: usize, flags: u8, type_code: u8) -> Malformation {
    Malformation::new(
        at,
        "attribute.flags",
        format!(
            "{} with flags {flags:#04x} contradicting its optional/transitive bits (RFC 7606 §3(c))",
            attr_name(type_code)
        ),
    )
    .in_attribute(type_code)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod rfc7606_tests {
    use super::*;
    use crate::update::validate_update;

    /// An UPDATE whose attribute list is `attrs` (header and lengths computed).
    fn update_with(attrs: &[u8]) -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&u16::try_from(23 + attrs.len()).unwrap().to_be_bytes());
        m.push(2);
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
        m.extend_from_slice(attrs);
        m
    }

    /// RFC 7606 §5.3(c) + §3(j): MP_UNREACH_NLRI with flags other than RFC 4760's (here
    /// optional transitive) is incorrect: AFI/SAFI disable, not treat-as-withdraw.
    #[test]
    fn mp_attribute_with_wrong_flags_disables_the_family() {
        let u = update_with(&[0xc0, 15, 3, 0, 25, 70]);
        let d = crate::message::decode_message(&CodecContext::default(), &u).unwrap();
        match d.outcome {
            Outcome::AfiSafiDisable { family, cause } => {
                assert_eq!(family, Family::L2VPN_EVPN);
                assert_eq!(cause.field, "attribute.flags");
            }
            other => panic!("expected AFI/SAFI disable, got {other:?}"),
        }
    }

    fn reset_of(bytes: &[u8]) -> Reset {
        match crate::message::decode_message(&CodecContext::default(), bytes) {
            Err(crate::DecodeError::Reset(r)) => r,
            other => panic!("expected a session reset, got {other:?}"),
        }
    }

    /// RFC 7606 §5.2: attributes without reachable NLRI plus a treat-as-withdraw class error
    /// reset the session with the RFC 4271 §6.3 code of that error and the attribute as data.
    #[test]
    fn no_reachable_nlri_with_withdraw_class_error_resets() {
        let origin_len = [0x40, 1, 2, 0, 0];
        let r = reset_of(&update_with(&origin_len));
        assert_eq!((r.code, r.subcode, r.data), (3, 5, origin_len.to_vec()));
        let origin_value = [0x40, 1, 1, 7];
        let r = reset_of(&update_with(&origin_value));
        assert_eq!((r.code, r.subcode, r.data), (3, 6, origin_value.to_vec()));
        // AS_PATH with an undefined segment type: Malformed AS_PATH, no data.
        let r = reset_of(&update_with(&[0x40, 2, 4, 9, 1, 0xfd, 0xe9]));
        assert_eq!((r.code, r.subcode, r.data.len()), (3, 11, 0));
        // Flags contradicting the attribute: Attribute Flags Error with the attribute.
        let med_flags = [0x40, 4, 4, 0, 0, 0, 1];
        let r = reset_of(&update_with(&med_flags));
        assert_eq!((r.code, r.subcode, r.data), (3, 4, med_flags.to_vec()));
        // Beside an (empty) MP_UNREACH_NLRI the rule still applies: other attributes are there.
        let mut attrs = vec![0x80, 15, 3, 0, 25, 70];
        attrs.extend_from_slice(&[0xc0, 8, 3, 0, 0, 1]);
        let r = reset_of(&update_with(&attrs));
        assert_eq!(
            (r.code, r.subcode, r.data),
            (3, 5, vec![0xc0, 8, 3, 0, 0, 1])
        );
    }

    /// §5.2 does not apply to attribute-discard errors, nor when reachable NLRI are present.
    #[test]
    fn no_reachable_nlri_with_discard_class_error_is_discarded() {
        let d = crate::message::decode_message(
            &CodecContext::default(),
            &update_with(&[0x40, 6, 1, 0]),
        )
        .unwrap();
        assert!(matches!(d.outcome, Outcome::AttributeDiscard(_)));
    }

    /// RFC 7606 §4: a zero-length AS4_PATH is malformed (attribute discard, RFC 6793 §6), and
    /// an empty AS4_PATH is therefore not valid for encoding either.
    #[test]
    fn empty_as4_path_is_discarded_and_not_encodable() {
        let ctx = CodecContext {
            four_octet_as: false,
            ..CodecContext::default()
        };
        let d = crate::message::decode_message(&ctx, &update_with(&[0xc0, 17, 0])).unwrap();
        assert!(
            matches!(d.outcome, Outcome::AttributeDiscard(ref c) if c[0].attribute == Some(17))
        );
        let u = Update {
            attributes: vec![PathAttribute::As4Path(crate::attribute::AsPath::default())],
            ..Update::default()
        };
        assert!(validate_update(&ctx, &u).is_err());
    }
}
