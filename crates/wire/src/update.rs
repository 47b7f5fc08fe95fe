//! The UPDATE message (RFC 4271 §4.3) with multiprotocol extensions (RFC 4760) and revised
//! error handling (RFC 7606).

use crate::attribute::{
    attr_name, attr_type, decode_attribute, encode_mp_reach, encode_mp_unreach, encode_nlri_for,
    expected_flags, flag, write_attribute, Action, Decoded, MpReach, MpUnreach, NextHop,
    PathAttribute, PmsiTunnelId,
};
use crate::context::CodecContext;
use crate::error::{code, subcode, EncodeError, Malformation, Outcome, Reset};
use crate::evpn::EvpnRoute;
use crate::message::{put_header, MessageType, HEADER_LEN};
use crate::nlri::{decode_nlri_list, Nlri, Route};
use crate::reader::Reader;
use crate::types::{Family, IpPrefix};
use std::net::IpAddr;

/// A set of attribute type codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AttrSet([u64; 4]);

impl AttrSet {
    /// Adds `type_code`; returns false if it was already present.
    pub fn insert(&mut self, type_code: u8) -> bool {
        let (w, b) = (usize::from(type_code / 64), type_code % 64);
        let had = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !had
    }

    /// Removes `type_code`.
    pub fn remove(&mut self, type_code: u8) {
        let (w, b) = (usize::from(type_code / 64), type_code % 64);
        self.0[w] &= !(1 << b);
    }

    /// True when `type_code` is in the set.
    pub fn contains(&self, type_code: u8) -> bool {
        let (w, b) = (usize::from(type_code / 64), type_code % 64);
        self.0[w] & (1 << b) != 0
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }
}

/// An UPDATE message.
///
/// MP_REACH_NLRI and MP_UNREACH_NLRI are held apart from the other attributes because they
/// carry routes; on the wire they are encoded first (RFC 7606 §5.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Withdrawn IPv4 unicast routes (the Withdrawn Routes field).
    pub withdrawn: Vec<Nlri>,
    /// MP_UNREACH_NLRI, if present.
    pub mp_unreach: Option<MpUnreach>,
    /// MP_REACH_NLRI, if present.
    pub mp_reach: Option<MpReach>,
    /// The other path attributes, in received order, at most one of each type.
    pub attributes: Vec<PathAttribute>,
    /// Known optional transitive attributes that carry the Partial bit (RFC 4271 §5).
    pub partial: AttrSet,
    /// Announced IPv4 unicast routes (the NLRI field).
    pub nlri: Vec<Nlri>,
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2).
    pub fn end_of_rib(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            Update::default()
        } else {
            Update {
                mp_unreach: Some(MpUnreach::new(family, Vec::new())),
                ..Update::default()
            }
        }
    }

    /// The family this UPDATE is the End-of-RIB marker of, recognised only in its exact shape
    /// (RFC 4724 §2): no withdrawn routes, no attributes and no NLRI for IPv4 unicast; only an
    /// empty MP_UNREACH_NLRI otherwise.
    pub fn as_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || !self.attributes.is_empty()
            || self.mp_reach.is_some()
        {
            return None;
        }
        match &self.mp_unreach {
            None => Some(Family::IPV4_UNICAST),
            Some(u) if u.nlri.is_empty() && u.opaque_nlri.is_empty() && u.skipped_routes == 0 => {
                Some(u.family)
            }
            Some(_) => None,
        }
    }

    /// The first attribute of `type_code`.
    pub fn attribute(&self, type_code: u8) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == type_code)
    }

    /// Routes announced by this UPDATE, with their family.
    pub fn announced(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let classic = self.nlri.iter().map(|n| (Family::IPV4_UNICAST, n));
        let mp = self
            .mp_reach
            .iter()
            .flat_map(|m| m.nlri.iter().map(move |n| (m.family, n)));
        classic.chain(mp)
    }

    /// Routes withdrawn by this UPDATE, with their family.
    pub fn withdrawals(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let classic = self.withdrawn.iter().map(|n| (Family::IPV4_UNICAST, n));
        let mp = self
            .mp_unreach
            .iter()
            .flat_map(|m| m.nlri.iter().map(move |n| (m.family, n)));
        classic.chain(mp)
    }

    /// Every route this UPDATE names, announced or withdrawn: what "treat-as-withdraw" must
    /// withdraw (RFC 7606 §2).
    pub fn treat_as_withdraw(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        self.withdrawals().chain(self.announced())
    }

    /// The extended communities, or an empty slice.
    pub fn extended_communities(&self) -> &[crate::ExtendedCommunity] {
        match self.attribute(attr_type::EXTENDED_COMMUNITIES) {
            Some(PathAttribute::ExtendedCommunities(c)) => c,
            _ => &[],
        }
    }
}

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

fn invalid(field: &'static str, reason: impl Into<String>) -> EncodeError {
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

fn check_nlri(ctx: &CodecContext, family: Family, nlri: &[Nlri]) -> Result<(), EncodeError> {
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

/// Appends UPDATE `u` as one message to `out`.
///
/// The update is first checked with [`validate_update`]; in debug builds the bytes are decoded
/// again and must give back `u` unchanged and accepted.
pub fn encode_update(ctx: &CodecContext, u: &Update, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    validate_update(ctx, u)?;
    let start = out.len();
    put_header(out, MessageType::Update);
    let wl_at = out.len();
    out.extend_from_slice(&[0, 0]);
    encode_nlri_for(ctx, Family::IPV4_UNICAST, &u.withdrawn, out);
    let wlen = out.len() - wl_at - 2;
    let tal_at = out.len();
    out.extend_from_slice(&[0, 0]);
    if let Some(m) = &u.mp_unreach {
        encode_mp_unreach(m, ctx, out);
    }
    if let Some(m) = &u.mp_reach {
        encode_mp_reach(m, ctx, out);
    }
    for a in &u.attributes {
        a.encode(ctx, u.partial.contains(a.type_code()), out);
    }
    let tal = out.len() - tal_at - 2;
    encode_nlri_for(ctx, Family::IPV4_UNICAST, &u.nlri, out);
    let total = out.len() - start;
    if total > ctx.max_message_len() {
        out.truncate(start);
        return Err(EncodeError::TooLong {
            length: total,
            max: ctx.max_message_len(),
        });
    }
    // All three fit in 16 bits: total ≤ 65535 was checked above.
    out[start + 16..start + 18].copy_from_slice(&(total as u16).to_be_bytes());
    out[wl_at..wl_at + 2].copy_from_slice(&(wlen as u16).to_be_bytes());
    out[tal_at..tal_at + 2].copy_from_slice(&(tal as u16).to_be_bytes());
    #[cfg(debug_assertions)]
    check_round_trip(ctx, &out[start..], u);
    Ok(())
}

/// Debug builds: every UPDATE we produce must decode to what we meant (DESIGN.md §5).
#[cfg(debug_assertions)]
fn check_round_trip(ctx: &CodecContext, bytes: &[u8], want: &Update) {
    match crate::message::decode_message(ctx, bytes) {
        Ok(d) => {
            assert_eq!(
                d.outcome,
                Outcome::Accept,
                "encoded UPDATE is not accepted by our decoder"
            );
            match d.message {
                crate::Message::Update(got) => {
                    assert_eq!(&got, want, "encoded UPDATE decodes differently")
                }
                other => panic!("encoded UPDATE decodes as {other:?}"),
            }
        }
        Err(e) => panic!("encoded UPDATE does not decode: {e}"),
    }
}

/// Packs routes into as few UPDATE messages as the session's maximum size allows, with the
/// multiprotocol attribute first (RFC 7606 §5.1).
///
/// For IPv4 unicast the classic NLRI and Withdrawn Routes fields are used (the NEXT_HOP
/// attribute must then be among `attributes`); every other family travels in MP_REACH_NLRI /
/// MP_UNREACH_NLRI.
#[derive(Debug)]
pub struct UpdatePacker<'a> {
    ctx: &'a CodecContext,
}

impl<'a> UpdatePacker<'a> {
    /// A packer for a session with context `ctx`.
    pub fn new(ctx: &'a CodecContext) -> Self {
        UpdatePacker { ctx }
    }

    /// Appends UPDATEs announcing `routes` of `family` with `attributes` and `next_hop` (ignored
    /// for IPv4 unicast) to `out`. Returns the number of messages written.
    pub fn announce(
        &self,
        family: Family,
        next_hop: &NextHop,
        attributes: &[PathAttribute],
        partial: AttrSet,
        routes: &[Nlri],
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        if routes.is_empty() {
            return Ok(0);
        }
        // Validate the shape once, with one route, exactly as encode_update would.
        let sample = self.sample(family, Some(next_hop), attributes, partial, &routes[..1]);
        validate_update(self.ctx, &sample)?;
        check_nlri(self.ctx, family, routes)?;
        if family == Family::L2VPN_EVPN {
            // The same RFC 9136 rules validate_update applies, for every route of the batch.
            let has_router_mac = attributes.iter().any(|a| match a {
                PathAttribute::ExtendedCommunities(cs) => cs
                    .iter()
                    .any(|c| matches!(c.kind(), crate::ExtCommunityKind::RouterMac(_))),
                _ => false,
            });
            for n in routes {
                if let Route::Evpn(r) = &n.route {
                    if let Some(why) = r.semantic_error() {
                        return Err(invalid("MP_REACH_NLRI.nlri", why));
                    }
                    if let EvpnRoute::IpPrefix(p) = r {
                        if !has_router_mac
                            && p.esi.is_zero()
                            && p.gateway.is_unspecified()
                            && p.label.raw() == 0
                        {
                            return Err(invalid(
                                "MP_REACH_NLRI.nlri",
                                "IP prefix route with no overlay index and label 0 (RFC 9136 §3.2)",
                            ));
                        }
                    }
                }
            }
        }
        // The part before the NLRI is the same in every message of the batch.
        let mut prefix = Vec::with_capacity(256);
        put_header(&mut prefix, MessageType::Update);
        prefix.extend_from_slice(&[0, 0, 0, 0]); // withdrawn length 0, attribute length later
        let mp_len_at = if family == Family::IPV4_UNICAST {
            None
        } else {
            prefix.extend_from_slice(&[
                flag::OPTIONAL | flag::EXTENDED_LENGTH,
                attr_type::MP_REACH_NLRI,
                0,
                0,
            ]);
            let at = prefix.len() - 2;
            prefix.extend_from_slice(&family.afi.0.to_be_bytes());
            prefix.push(family.safi.0);
            prefix.push(
                sample
                    .mp_reach
                    .as_ref()
                    .map_or(0, |m| m.next_hop.encoded_len()) as u8,
            );
            next_hop.encode(&mut prefix);
            prefix.push(0);
            Some(at)
        };
        // The MP attribute's value starts right after its two-octet length field: AFI, SAFI and
        // next hop count towards its length, not only the NLRI.
        let mp_body_start = mp_len_at.map_or(prefix.len(), |at| at + 2);
        let mut tail = Vec::with_capacity(128);
        for a in attributes {
            a.encode(self.ctx, partial.contains(a.type_code()), &mut tail);
        }
        self.pack(
            &prefix,
            mp_len_at,
            mp_body_start,
            &tail,
            family,
            routes,
            out,
        )
    }

    /// Appends UPDATEs withdrawing `routes` of `family` to `out`. Returns the number of
    /// messages written.
    pub fn withdraw(
        &self,
        family: Family,
        routes: &[Nlri],
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        if routes.is_empty() {
            return Ok(0);
        }
        check_nlri(self.ctx, family, routes)?;
        let mut prefix = Vec::with_capacity(32);
        put_header(&mut prefix, MessageType::Update);
        if family == Family::IPV4_UNICAST {
            // Withdrawn routes field; its length is patched per message.
            prefix.extend_from_slice(&[0, 0]);
            return self.pack_classic_withdraw(&prefix, routes, out);
        }
        prefix.extend_from_slice(&[0, 0, 0, 0]);
        prefix.extend_from_slice(&[
            flag::OPTIONAL | flag::EXTENDED_LENGTH,
            attr_type::MP_UNREACH_NLRI,
            0,
            0,
        ]);
        let at = prefix.len() - 2;
        prefix.extend_from_slice(&family.afi.0.to_be_bytes());
        prefix.push(family.safi.0);
        // The value (AFI, SAFI, NLRI) starts right after the two-octet length field.
        let body_start = at + 2;
        self.pack(&prefix, Some(at), body_start, &[], family, routes, out)
    }

    fn sample(
        &self,
        family: Family,
        next_hop: Option<&NextHop>,
        attributes: &[PathAttribute],
        partial: AttrSet,
        routes: &[Nlri],
    ) -> Update {
        let mut u = Update {
            attributes: attributes.to_vec(),
            partial,
            ..Update::default()
        };
        if family == Family::IPV4_UNICAST {
            u.nlri = routes.to_vec();
        } else {
            u.mp_reach = Some(MpReach::new(
                family,
                next_hop.cloned().unwrap_or(NextHop::Opaque(Vec::new())),
                routes.to_vec(),
            ));
        }
        u
    }

    #[allow(clippy::too_many_arguments)]
    fn pack(
        &self,
        prefix: &[u8],
        mp_len_at: Option<usize>,
        mp_body_start: usize,
        tail: &[u8],
        family: Family,
        routes: &[Nlri],
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let max = self.ctx.max_message_len();
        let with_id = self.ctx.has_path_id(family);
        let fixed = prefix.len() + tail.len();
        let mut messages = 0;
        let mut i = 0;
        while i < routes.len() {
            let start = out.len();
            out.extend_from_slice(prefix);
            let nlri_start;
            if mp_len_at.is_some() {
                // MP: NLRI go inside the MP attribute, before the other attributes.
                nlri_start = out.len();
                i = push_routes(
                    out,
                    routes,
                    i,
                    with_id,
                    start + max - tail.len(),
                    fixed == prefix.len(),
                );
                let mp_len = out.len() - start - mp_body_start;
                let at = start + mp_len_at.unwrap_or(0);
                out[at..at + 2].copy_from_slice(&(mp_len as u16).to_be_bytes());
                out.extend_from_slice(tail);
                let tal = out.len() - start - HEADER_LEN - 4;
                out[start + HEADER_LEN + 2..start + HEADER_LEN + 4]
                    .copy_from_slice(&(tal as u16).to_be_bytes());
            } else {
                out.extend_from_slice(tail);
                let tal = out.len() - start - HEADER_LEN - 4;
                out[start + HEADER_LEN + 2..start + HEADER_LEN + 4]
                    .copy_from_slice(&(tal as u16).to_be_bytes());
                nlri_start = out.len();
                i = push_routes(out, routes, i, with_id, start + max, true);
            }
            if out.len() == nlri_start {
                out.truncate(start);
                return Err(EncodeError::TooLong {
                    length: fixed + routes[i].encoded_len(),
                    max,
                });
            }
            let total = out.len() - start;
            out[start + 16..start + 18].copy_from_slice(&(total as u16).to_be_bytes());
            #[cfg(debug_assertions)]
            debug_check_packed(self.ctx, &out[start..]);
            messages += 1;
        }
        Ok(messages)
    }

    fn pack_classic_withdraw(
        &self,
        prefix: &[u8],
        routes: &[Nlri],
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let max = self.ctx.max_message_len();
        let with_id = self.ctx.has_path_id(Family::IPV4_UNICAST);
        let mut messages = 0;
        let mut i = 0;
        while i < routes.len() {
            let start = out.len();
            out.extend_from_slice(prefix);
            let first = out.len();
            i = push_routes(out, routes, i, with_id, start + max - 2, true);
            if out.len() == first {
                out.truncate(start);
                return Err(EncodeError::TooLong {
                    length: max + 1,
                    max,
                });
            }
            let wlen = out.len() - first;
            out[start + HEADER_LEN..start + HEADER_LEN + 2]
                .copy_from_slice(&(wlen as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0]);
            let total = out.len() - start;
            out[start + 16..start + 18].copy_from_slice(&(total as u16).to_be_bytes());
            #[cfg(debug_assertions)]
            debug_check_packed(self.ctx, &out[start..]);
            messages += 1;
        }
        Ok(messages)
    }
}

/// Appends routes from index `i` while the message stays within `limit` (an absolute index into
/// `out`). Returns the index of the first route not written.
fn push_routes(
    out: &mut Vec<u8>,
    routes: &[Nlri],
    mut i: usize,
    with_id: bool,
    limit: usize,
    _last: bool,
) -> usize {
    while let Some(n) = routes.get(i) {
        let len = n.encoded_len() + if with_id && n.path_id.is_none() { 4 } else { 0 };
        if out.len() + len > limit {
            break;
        }
        if with_id {
            out.extend_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
        }
        Nlri {
            path_id: None,
            route: n.route,
        }
        .encode(out);
        i += 1;
    }
    i
}

#[cfg(debug_assertions)]
fn debug_check_packed(ctx: &CodecContext, bytes: &[u8]) {
    match crate::message::decode_message(ctx, bytes) {
        Ok(d) => assert_eq!(
            d.outcome,
            Outcome::Accept,
            "packed UPDATE is not accepted by our decoder"
        ),
        Err(e) => panic!("packed UPDATE does not decode: {e}"),
    }
}

/// Convenience: the ORIGIN/AS_PATH/extended-communities attribute set an EVPN speaker attaches
/// to its own routes.
pub fn evpn_origination_attributes(
    as_path: crate::attribute::AsPath,
    communities: Vec<crate::ExtendedCommunity>,
) -> Vec<PathAttribute> {
    let mut v = vec![
        PathAttribute::Origin(crate::attribute::Origin::Igp),
        PathAttribute::AsPath(as_path),
    ];
    if !communities.is_empty() {
        v.push(PathAttribute::ExtendedCommunities(communities));
    }
    v
}

/// An IPv4 or IPv6 unicast NLRI for `prefix`.
pub fn unicast_nlri(prefix: IpPrefix) -> Nlri {
    match prefix.addr() {
        IpAddr::V4(_) => Nlri::new(Route::Ipv4(prefix)),
        IpAddr::V6(_) => Nlri::new(Route::Ipv6(prefix)),
    }
}

/// Writes an attribute with explicit flags; used by tests and tools that craft messages.
pub fn raw_attribute(out: &mut Vec<u8>, flags: u8, type_code: u8, value: &[u8]) {
    write_attribute(out, flags, type_code, |o| o.extend_from_slice(value));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod packer_tests {
    use super::*;
    use crate::evpn::InclusiveMulticastRoute;
    use crate::types::RouteDistinguisher;
    use std::net::Ipv4Addr;

    fn imet(n: u8) -> Nlri {
        Nlri::new(Route::Evpn(EvpnRoute::InclusiveMulticast(
            InclusiveMulticastRoute {
                rd: RouteDistinguisher::as2(65000, u32::from(n)),
                ethernet_tag: 0,
                originator: IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)),
            },
        )))
    }

    /// RFC 4760 §3/§4: the MP_REACH/MP_UNREACH length covers AFI, SAFI, next hop and reserved
    /// octet as well as the NLRI; packed messages must decode to the routes given.
    #[test]
    fn packed_mp_attribute_length_covers_the_whole_value() {
        let ctx = CodecContext::default();
        let routes = vec![imet(1), imet(2)];
        let attrs = vec![
            PathAttribute::Origin(crate::attribute::Origin::Igp),
            PathAttribute::AsPath(crate::attribute::AsPath::default()),
        ];
        let nh = NextHop::Ipv4(Ipv4Addr::new(198, 18, 0, 1));
        let packer = UpdatePacker::new(&ctx);
        let mut out = Vec::new();
        let n = packer
            .announce(
                Family::L2VPN_EVPN,
                &nh,
                &attrs,
                AttrSet::default(),
                &routes,
                &mut out,
            )
            .unwrap();
        assert_eq!(n, 1);
        // Header (19), withdrawn length (2), attribute length (2), then MP_REACH: flags, type,
        // two-octet length = 2 + 1 + 1 + 4 + 1 + 2 * (2 + 17).
        assert_eq!(&out[23..25], &[0x90, 14]);
        assert_eq!(u16::from_be_bytes([out[25], out[26]]), 9 + 2 * 19);
        let d = crate::message::decode_message(&ctx, &out).unwrap();
        assert_eq!(d.outcome, Outcome::Accept);
        let crate::Message::Update(u) = d.message else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.mp_reach.unwrap().nlri, routes);

        let mut out = Vec::new();
        assert_eq!(
            packer
                .withdraw(Family::L2VPN_EVPN, &routes, &mut out)
                .unwrap(),
            1
        );
        assert_eq!(&out[23..25], &[0x90, 15]);
        assert_eq!(u16::from_be_bytes([out[25], out[26]]), 3 + 2 * 19);
        let d = crate::message::decode_message(&ctx, &out).unwrap();
        let crate::Message::Update(u) = d.message else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.mp_unreach.unwrap().nlri, routes);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod rfc7606_tests {
    use super::*;

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
