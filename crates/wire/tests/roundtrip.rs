//! Property-based round trips of the wire codec.
//!
//! For every value type: an arbitrary value that is valid for encoding (see
//! `common::strategies`) goes through `encode_message` and `decode_message` and must come back
//! equal, with `Outcome::Accept`, for an arbitrary session context (2-/4-octet AS, extended
//! messages, ADD-PATH families, eBGP/iBGP). Byte layouts are also checked against independent
//! encoders written here from the RFC figures, and the typed views (RD, ESI, extended
//! communities, labels) against their raw bytes. Finally `UpdatePacker` is checked to keep
//! every route, in order, in messages that respect the size limit and are filled densely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::strategies::*;
use evpnd_wire::types::{EsiKind, RdKind};
use evpnd_wire::update::validate_update;
use evpnd_wire::{
    decode_all, decode_message, encode_message, frame_length, AttrSet, CodecContext, EncodeError,
    EvpnRoute, ExtCommunityKind, ExtendedCommunity, Family, IpPrefix, Label, MacAddress, Message,
    MpReach, MpUnreach, NextHop, Nlri, Open, Origin, Outcome, PathAttribute, Route,
    RouteDistinguisher, RouteTarget, RtMembership, Update, UpdatePacker,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::net::{IpAddr, Ipv4Addr};

const MARKER: [u8; 16] = [0xff; 16];

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Keep failure persistence files out of the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Encodes `msg`, checks the header layout (RFC 4271 §4.1), decodes it and requires the same
/// message back, accepted. Returns the bytes.
fn round_trip(ctx: &CodecContext, msg: &Message) -> Result<Vec<u8>, TestCaseError> {
    let mut buf = Vec::new();
    encode_message(ctx, msg, &mut buf)
        .map_err(|e| TestCaseError::fail(format!("encode failed: {e}")))?;
    check_header(ctx, &buf, msg)?;
    let d = decode_message(ctx, &buf)
        .map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?;
    prop_assert_eq!(d.length, buf.len());
    prop_assert_eq!(&d.outcome, &Outcome::Accept);
    prop_assert_eq!(&d.message, msg);
    Ok(buf)
}

fn check_header(ctx: &CodecContext, buf: &[u8], msg: &Message) -> Result<(), TestCaseError> {
    prop_assert!(buf.len() >= 19);
    prop_assert_eq!(&buf[..16], &MARKER[..]);
    prop_assert_eq!(
        usize::from(u16::from_be_bytes([buf[16], buf[17]])),
        buf.len()
    );
    prop_assert_eq!(buf[18], msg.message_type() as u8);
    // OPEN and KEEPALIVE never exceed 4096 bytes (RFC 8654 §4); the rest the session maximum.
    let max = match msg {
        Message::Open(_) | Message::Keepalive => 4096,
        _ if ctx.extended_message => 65535,
        _ => 4096,
    };
    prop_assert!(buf.len() <= max, "{} bytes > {}", buf.len(), max);
    prop_assert_eq!(frame_length(ctx, buf), Ok(Some(buf.len())));
    Ok(())
}

/// Round trip of an UPDATE generated to be valid. If it does not fit 4096 bytes, the encoder
/// must say exactly that, and the same UPDATE must then round-trip with extended messages.
fn update_round_trip(ctx: &CodecContext, u: &Update) -> Result<Vec<u8>, TestCaseError> {
    prop_assert_eq!(validate_update(ctx, u), Ok(()));
    let msg = Message::Update(u.clone());
    let mut probe = Vec::new();
    match encode_message(ctx, &msg, &mut probe) {
        Err(EncodeError::TooLong { length, max }) => {
            prop_assert!(
                !ctx.extended_message,
                "{length} bytes with extended messages"
            );
            prop_assert_eq!(max, 4096);
            prop_assert!(length > 4096);
            prop_assert!(probe.is_empty(), "nothing written on error");
            let ext = CodecContext {
                extended_message: true,
                ..ctx.clone()
            };
            round_trip(&ext, &msg)
        }
        _ => round_trip(ctx, &msg),
    }
}

/// Origination attributes for a test UPDATE: ORIGIN and a short AS_PATH (RFC 4271 §5.1).
fn mandatory() -> Vec<PathAttribute> {
    vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(evpnd_wire::AsPath::sequence(vec![64_512])),
    ]
}

// ---------------------------------------------------------------------------------------------
// Independent encoders, written from the RFC figures
// ---------------------------------------------------------------------------------------------

fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn label_bytes(l: Label) -> Vec<u8> {
    l.raw().to_be_bytes()[1..].to_vec()
}

/// EVPN NLRI `type | length | value` per RFC 7432 §7.1–7.4 and RFC 9136 §3.1.
fn rfc_evpn_bytes(r: &EvpnRoute) -> Vec<u8> {
    let (t, v): (u8, Vec<u8>) = match r {
        EvpnRoute::EthernetAd(x) => (
            1,
            [
                &x.rd.0[..],
                &x.esi.0,
                &x.ethernet_tag.to_be_bytes(),
                &label_bytes(x.label),
            ]
            .concat(),
        ),
        EvpnRoute::MacIp(x) => {
            let ip = x.ip.as_ref().map(ip_bytes).unwrap_or_default();
            let l2 = x.label2.map(label_bytes).unwrap_or_default();
            (
                2,
                [
                    &x.rd.0[..],
                    &x.esi.0,
                    &x.ethernet_tag.to_be_bytes(),
                    &[48],
                    &x.mac.0,
                    &[(ip.len() * 8) as u8],
                    &ip,
                    &label_bytes(x.label1),
                    &l2,
                ]
                .concat(),
            )
        }
        EvpnRoute::InclusiveMulticast(x) => {
            let ip = ip_bytes(&x.originator);
            (
                3,
                [
                    &x.rd.0[..],
                    &x.ethernet_tag.to_be_bytes(),
                    &[(ip.len() * 8) as u8],
                    &ip,
                ]
                .concat(),
            )
        }
        EvpnRoute::EthernetSegment(x) => {
            let ip = ip_bytes(&x.originator);
            (
                4,
                [&x.rd.0[..], &x.esi.0, &[(ip.len() * 8) as u8], &ip].concat(),
            )
        }
        EvpnRoute::IpPrefix(x) => (
            5,
            [
                &x.rd.0[..],
                &x.esi.0,
                &x.ethernet_tag.to_be_bytes(),
                &[x.prefix_len],
                &ip_bytes(&x.prefix),
                &ip_bytes(&x.gateway),
                &label_bytes(x.label),
            ]
            .concat(),
        ),
    };
    [vec![t, v.len() as u8], v].concat()
}

/// Prefix NLRI: length in bits, then the fewest octets that hold it (RFC 4271 §4.3).
fn rfc_prefix_bytes(p: &IpPrefix) -> Vec<u8> {
    let n = usize::from(p.len()).div_ceil(8);
    [vec![p.len()], ip_bytes(&p.addr())[..n].to_vec()].concat()
}

/// RT membership NLRI (RFC 4684 §4): length in bits (0 or 32 + RT bits), origin AS, RT prefix.
fn rfc_rtc_bytes(m: &RtMembership) -> Vec<u8> {
    match m {
        RtMembership::Default => vec![0],
        RtMembership::Target {
            origin_as,
            rt_len,
            route_target,
        } => {
            let n = usize::from(*rt_len).div_ceil(8);
            [
                vec![32 + rt_len],
                origin_as.to_be_bytes().to_vec(),
                route_target[..n].to_vec(),
            ]
            .concat()
        }
    }
}

/// The ESI bytes of a typed ESI (RFC 7432 §5), reserved octets zero.
fn esi_from_kind(k: EsiKind) -> [u8; 10] {
    let mut b = [0u8; 10];
    match k {
        EsiKind::Arbitrary(v) => b[1..].copy_from_slice(&v),
        EsiKind::Lacp {
            system_mac,
            port_key,
        } => {
            b[0] = 1;
            b[1..7].copy_from_slice(&system_mac.0);
            b[7..9].copy_from_slice(&port_key.to_be_bytes());
        }
        EsiKind::Bridge { root_mac, priority } => {
            b[0] = 2;
            b[1..7].copy_from_slice(&root_mac.0);
            b[7..9].copy_from_slice(&priority.to_be_bytes());
        }
        EsiKind::MacBased {
            system_mac,
            discriminator,
        } => {
            b[0] = 3;
            b[1..7].copy_from_slice(&system_mac.0);
            b[7..10].copy_from_slice(&discriminator.to_be_bytes()[1..]);
        }
        EsiKind::RouterId {
            router_id,
            discriminator,
        } => {
            b[0] = 4;
            b[1..5].copy_from_slice(&router_id.octets());
            b[5..9].copy_from_slice(&discriminator.to_be_bytes());
        }
        EsiKind::As { asn, discriminator } => {
            b[0] = 5;
            b[1..5].copy_from_slice(&asn.to_be_bytes());
            b[5..9].copy_from_slice(&discriminator.to_be_bytes());
        }
        EsiKind::Other { esi_type, value } => {
            b[0] = esi_type;
            b[1..].copy_from_slice(&value);
        }
    }
    b
}

/// Bits of an extended community value that its RFC reserves (must be sent as zero, ignored
/// on receipt): RFC 9012 §4.1 (encapsulation), RFC 7432 §7.5, §7.7, §7.8, RFC 8214 §3.1,
/// RFC 8584 §3.2, RFC 9047 §3.1 (flag bits beyond the four the codec names).
fn ext_reserved_mask(t: u8, s: u8) -> [u8; 8] {
    match (t, s) {
        (0x03, 0x0c) => [0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
        (0x03, 0x0d) => [0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        (0x06, 0x00) => [0, 0, 0xfe, 0xff, 0, 0, 0, 0],
        (0x06, 0x01) => [0, 0, 0xfe, 0xff, 0xff, 0, 0, 0],
        (0x06, 0x04) => [0, 0, 0, 0, 0, 0, 0xff, 0xff],
        (0x06, 0x06) => [0, 0, 0xe0, 0, 0, 0xff, 0xff, 0xff],
        (0x06, 0x08) => [0, 0, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff],
        _ => [0; 8],
    }
}

/// The (type, sub-type) each typed community must be sent with.
fn ext_type_of(k: &ExtCommunityKind) -> Option<(u8, u8)> {
    Some(match k {
        ExtCommunityKind::RouteTarget(RouteTarget::As2 { .. }) => (0x00, 0x02),
        ExtCommunityKind::RouteTarget(RouteTarget::Ipv4 { .. }) => (0x01, 0x02),
        ExtCommunityKind::RouteTarget(RouteTarget::As4 { .. }) => (0x02, 0x02),
        ExtCommunityKind::Encapsulation { .. } => (0x03, 0x0c),
        ExtCommunityKind::DefaultGateway => (0x03, 0x0d),
        ExtCommunityKind::MacMobility { .. } => (0x06, 0x00),
        ExtCommunityKind::EsiLabel { .. } => (0x06, 0x01),
        ExtCommunityKind::EsImportRouteTarget(_) => (0x06, 0x02),
        ExtCommunityKind::RouterMac(_) => (0x06, 0x03),
        ExtCommunityKind::Layer2Attributes { .. } => (0x06, 0x04),
        ExtCommunityKind::DfElection { .. } => (0x06, 0x06),
        ExtCommunityKind::ArpNd { .. } => (0x06, 0x08),
        ExtCommunityKind::Unknown(_) => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Scalar value types
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn rd_typed_view_and_text_round_trip(rd in rd()) {
        let b = rd.0;
        match rd.kind() {
            RdKind::As2 { asn, number } => {
                prop_assert_eq!(&b[..2], &[0, 0]);
                prop_assert_eq!(RouteDistinguisher::as2(asn, number), rd);
            }
            RdKind::Ipv4 { addr, number } => {
                prop_assert_eq!(&b[..2], &[0, 1]);
                prop_assert_eq!(RouteDistinguisher::ipv4(addr, number), rd);
            }
            RdKind::As4 { asn, number } => {
                prop_assert_eq!(&b[..2], &[0, 2]);
                prop_assert_eq!(RouteDistinguisher::as4(asn, number), rd);
            }
            RdKind::Other(raw) => {
                prop_assert!(u16::from_be_bytes([b[0], b[1]]) >= 3);
                prop_assert_eq!(raw, b);
            }
        }
        if u16::from_be_bytes([b[0], b[1]]) <= 2 {
            let text = rd.to_string();
            prop_assert_eq!(text.parse::<RouteDistinguisher>(), Ok(rd), "text {}", text);
        }
    }

    #[test]
    fn esi_typed_view_rebuilds_the_bytes(esi in esi()) {
        prop_assert_eq!(esi.esi_type(), esi.0[0]);
        prop_assert_eq!(esi.is_zero(), esi.0 == [0; 10]);
        prop_assert_eq!(esi_from_kind(esi.kind()), esi.0);
        let expect_other = esi.0[0] > 5;
        prop_assert_eq!(matches!(esi.kind(), EsiKind::Other { .. }), expect_other);
    }

    #[test]
    fn mac_text_round_trip(mac in mac()) {
        let text = mac.to_string();
        prop_assert_eq!(text.len(), 17);
        prop_assert_eq!(text.parse::<MacAddress>(), Ok(mac));
        prop_assert_eq!(mac.is_multicast(), mac.0[0] & 1 == 1);
    }

    #[test]
    fn label_views(v in any::<u32>(), bos in any::<bool>()) {
        let raw = Label::from_raw(v);
        prop_assert_eq!(raw.raw(), v & 0x00ff_ffff);
        match Label::from_vni(v) {
            Some(l) => {
                prop_assert!(v < 1 << 24);
                prop_assert_eq!(l.vni(), v);
                prop_assert_eq!(l.raw(), v);
            }
            None => prop_assert!(v >= 1 << 24),
        }
        match Label::from_mpls(v, bos) {
            Some(l) => {
                prop_assert!(v < 1 << 20);
                prop_assert_eq!(l.mpls_label(), v);
                prop_assert_eq!(l.bottom_of_stack(), bos);
                // RFC 3032 §2.1: label (20) | TC (3) | S (1).
                prop_assert_eq!(l.raw(), (v << 4) | u32::from(bos));
            }
            None => prop_assert!(v >= 1 << 20),
        }
    }

    #[test]
    fn ip_prefix_masks_and_text_round_trip(addr in ip(), len in 0u8..=130) {
        let width: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let p = IpPrefix::new(addr, len);
        if len > width {
            prop_assert!(p.is_none());
            return Ok(());
        }
        let p = p.unwrap();
        prop_assert_eq!(p.len(), len);
        // Independent masking: keep the first `len` bits of the address octets.
        let mut want = ip_bytes(&addr);
        for (i, byte) in want.iter_mut().enumerate() {
            let keep = usize::from(len).saturating_sub(i * 8).min(8);
            *byte &= (0xff00u16 >> keep) as u8;
        }
        prop_assert_eq!(ip_bytes(&p.addr()), want);
        prop_assert_eq!(p.to_string().parse::<IpPrefix>(), Ok(p));
        prop_assert_eq!(p.is_default(), len == 0);
    }

    #[test]
    fn rt_membership_masks_and_matches(origin_as in any::<u32>(), len in 0u8..=70, rt in any::<[u8; 8]>()) {
        match RtMembership::partial(origin_as, len, rt) {
            None => prop_assert!(len > 64),
            Some(m) => {
                prop_assert!(len <= 64);
                prop_assert_eq!(m.prefix_len(), 32 + len);
                let RtMembership::Target { route_target, rt_len, .. } = m else {
                    return Err(TestCaseError::fail("partial() gave the default"));
                };
                prop_assert_eq!(rt_len, len);
                let mask = if len == 0 { 0 } else { u64::MAX << (64 - u32::from(len)) };
                prop_assert_eq!(u64::from_be_bytes(route_target), u64::from_be_bytes(rt) & mask);
                prop_assert!(m.matches(&rt));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extended communities
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(512))]

    #[test]
    fn ext_community_typed_to_raw_to_typed(kind in ext_kind()) {
        let c = ExtendedCommunity::new(kind);
        prop_assert_eq!(c.kind(), kind);
        prop_assert_eq!(ExtendedCommunity::from(kind), c);
        match ext_type_of(&kind) {
            Some((t, s)) => {
                prop_assert_eq!((c.type_high(), c.subtype()), (t, s));
                let mask = ext_reserved_mask(t, s);
                prop_assert!(c.0.iter().zip(mask).all(|(b, m)| b & m == 0), "reserved bits set: {:02x?}", c.0);
            }
            None => prop_assert!(!KNOWN_EXT_TYPES.contains(&(c.type_high(), c.subtype()))),
        }
        prop_assert_eq!(c.is_route_target(), matches!(kind, ExtCommunityKind::RouteTarget(_)));
    }

    #[test]
    fn ext_community_raw_to_typed_to_raw(raw in ext_raw()) {
        let mask = ext_reserved_mask(raw[0], raw[1]);
        let mut clean = raw;
        for (b, m) in clean.iter_mut().zip(mask) {
            *b &= !m;
        }
        let c = ExtendedCommunity(clean);
        // Zero reserved bits: the typed view carries every bit.
        prop_assert_eq!(ExtendedCommunity::new(c.kind()), c);
        // Reserved bits set: the view is the same, and the bytes are kept.
        prop_assert_eq!(ExtendedCommunity(raw).kind(), c.kind());
        prop_assert_eq!(ExtendedCommunity(raw).0, raw);
    }

    /// RFC 5701 §2: an IPv6 address specific community has no reserved bits, so any 20 bytes
    /// survive the typed view, and a typed community keeps its (type, sub-type) and fields.
    #[test]
    fn ipv6_ext_community_bytes_and_view_agree(c in ipv6_ext_community()) {
        let again = evpnd_wire::Ipv6ExtendedCommunity::new(c.kind());
        prop_assert_eq!(again, c);
        match c.kind() {
            evpnd_wire::Ipv6ExtCommunityKind::RouteTarget { addr, value }
            | evpnd_wire::Ipv6ExtCommunityKind::RouteOrigin { addr, value } => {
                prop_assert_eq!(c.type_high(), 0x00);
                prop_assert!(matches!(c.subtype(), 0x02 | 0x03));
                prop_assert_eq!(&c.0[2..18], &addr.octets()[..]);
                prop_assert_eq!(&c.0[18..], &value.to_be_bytes()[..]);
            }
            evpnd_wire::Ipv6ExtCommunityKind::Unknown(b) => {
                prop_assert_eq!(b, c.0);
                prop_assert!(!matches!((b[0], b[1]), (0x00, 0x02) | (0x00, 0x03)));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routes: byte layouts and wire round trips
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn evpn_route_layout_matches_rfc(route in evpn_route(), id in any::<u32>()) {
        let mut out = Vec::new();
        route.encode(&mut out);
        prop_assert_eq!(&out, &rfc_evpn_bytes(&route));
        prop_assert_eq!(out.len(), 2 + route.value_len());
        prop_assert_eq!(Nlri::new(Route::Evpn(route)).encoded_len(), out.len());
        let with_id = Nlri { path_id: Some(id), route: Route::Evpn(route) };
        let mut out2 = Vec::new();
        with_id.encode(&mut out2);
        prop_assert_eq!(&out2[..4], &id.to_be_bytes()[..]);
        prop_assert_eq!(&out2[4..], &out[..]);
        prop_assert_eq!(with_id.encoded_len(), out2.len());
        prop_assert_eq!(route.semantic_error().is_some(), false, "strategy makes RFC 9136 §3.1-valid routes");
    }

    #[test]
    fn prefix_and_rtc_layouts_match_rfc(v4 in ipv4_prefix(), v6 in ipv6_prefix(), m in rt_membership()) {
        for (route, want) in [
            (Route::Ipv4(v4), rfc_prefix_bytes(&v4)),
            (Route::Ipv6(v6), rfc_prefix_bytes(&v6)),
            (Route::RtConstraint(m), rfc_rtc_bytes(&m)),
        ] {
            let n = Nlri::new(route);
            let mut out = Vec::new();
            n.encode(&mut out);
            prop_assert_eq!(&out, &want);
            prop_assert_eq!(n.encoded_len(), out.len());
        }
    }

    /// Each EVPN route type, announced (MP_REACH) and withdrawn (MP_UNREACH), with an IPv4 or
    /// IPv6 next hop and a path identifier when ADD-PATH is on for EVPN.
    #[test]
    fn evpn_route_wire_round_trip(
        (ctx, (mut nlri, nh)) in with_context(|c| (nlri_list(c, Family::L2VPN_EVPN, 1, 1), next_hop_for(Family::L2VPN_EVPN)))
    ) {
        fix_type5_overlay(&mut nlri, false);
        let announce = Update {
            mp_reach: Some(MpReach::new(Family::L2VPN_EVPN, nh, nlri.clone())),
            attributes: mandatory(),
            ..Update::default()
        };
        let bytes = update_round_trip(&ctx, &announce)?;
        // The route's bytes appear verbatim (after its path identifier) in the message.
        let Route::Evpn(r) = nlri[0].route else { unreachable!() };
        let want = rfc_evpn_bytes(&r);
        prop_assert!(bytes.windows(want.len()).any(|w| w == want.as_slice()));
        let withdraw = Update {
            mp_unreach: Some(MpUnreach::new(Family::L2VPN_EVPN, nlri)),
            ..Update::default()
        };
        update_round_trip(&ctx, &withdraw)?;
    }

    /// IPv4 prefixes in the classic Withdrawn Routes and NLRI fields, IPv6 prefixes and RT
    /// memberships in MP_REACH/MP_UNREACH.
    #[test]
    fn prefix_and_rtc_wire_round_trip(
        (ctx, (v4, v6, rtc, nh6, nh_rtc)) in with_context(|c| (
            nlri_list(c, Family::IPV4_UNICAST, 0, 20),
            nlri_list(c, Family::IPV6_UNICAST, 0, 20),
            nlri_list(c, Family::RT_CONSTRAINT, 0, 20),
            next_hop_for(Family::IPV6_UNICAST),
            next_hop_for(Family::RT_CONSTRAINT),
        ))
    ) {
        let mut attrs = mandatory();
        attrs.push(PathAttribute::NextHop(Ipv4Addr::new(198, 18, 0, 1)));
        update_round_trip(&ctx, &Update { withdrawn: v4.clone(), ..Update::default() })?;
        update_round_trip(&ctx, &Update { nlri: v4, attributes: attrs.clone(), ..Update::default() })?;
        for (family, nlri, nh) in [(Family::IPV6_UNICAST, v6, nh6), (Family::RT_CONSTRAINT, rtc, nh_rtc)] {
            update_round_trip(&ctx, &Update {
                mp_reach: Some(MpReach::new(family, nh, nlri.clone())),
                attributes: mandatory(),
                ..Update::default()
            })?;
            update_round_trip(&ctx, &Update {
                mp_unreach: Some(MpUnreach::new(family, nlri)),
                ..Update::default()
            })?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Path attributes
// ---------------------------------------------------------------------------------------------

/// A Partial mark: any type code, or (mostly) one of the known attribute types.
fn mark() -> impl Strategy<Value = u8> {
    prop_oneof![
        1 => any::<u8>(),
        3 => proptest::sample::select(vec![1u8, 2, 5, 7, 8, 16, 17, 18, 22, 23, 32]),
    ]
}

proptest! {
    #![proptest_config(cfg(512))]

    /// Every attribute variant alone in an UPDATE (no routes, so nothing is mandatory), with the
    /// Partial bit on optional transitive ones half of the time.
    #[test]
    fn each_path_attribute_round_trips((ctx, (attr, partial)) in with_context(|c| (any_attribute(c), any::<bool>()))) {
        let mut set = AttrSet::default();
        if partial && is_optional_transitive(attr.type_code()) {
            set.insert(attr.type_code());
        }
        let u = Update { attributes: vec![attr.clone()], partial: set, ..Update::default() };
        let bytes = update_round_trip(&ctx, &u)?;
        // Flags (RFC 4271 §4.3): the Extended Length bit exactly when the value exceeds 255.
        let flags = bytes[23];
        let ext = flags & 0x10 != 0;
        let value_len = if ext {
            usize::from(u16::from_be_bytes([bytes[25], bytes[26]]))
        } else {
            usize::from(bytes[25])
        };
        prop_assert_eq!(ext, value_len > 255);
        prop_assert_eq!(bytes[24], attr.type_code());
        prop_assert_eq!(flags & 0x20 != 0, set.contains(attr.type_code()) || matches!(&attr, PathAttribute::Unknown(x) if x.flags & 0x20 != 0));
    }

    /// Arbitrary Partial marks: valid exactly when they name present known optional
    /// transitive attributes (RFC 4271 §4.3), and then they survive the round trip.
    #[test]
    fn partial_marks_are_validated(
        (ctx, ((attrs, _), marks)) in with_context(|c| (attributes(c, false, false), proptest::collection::vec(mark(), 0..=3)))
    ) {
        let mut partial = AttrSet::default();
        for t in &marks {
            partial.insert(*t);
        }
        let valid = marks.iter().all(|t| {
            is_optional_transitive(*t) && attrs.iter().any(|a| a.type_code() == *t && !matches!(a, PathAttribute::Unknown(_)))
        });
        let u = Update { attributes: attrs, partial, ..Update::default() };
        prop_assert_eq!(validate_update(&ctx, &u).is_ok(), valid);
        if valid {
            update_round_trip(&ctx, &u)?;
        }
    }

    /// A full attribute set with mandatory attributes, in random order.
    #[test]
    fn attribute_sets_round_trip((ctx, (attrs, partial)) in with_context(|c| attributes(c, true, true))) {
        let u = Update {
            nlri: vec![Nlri {
                path_id: ctx.has_path_id(Family::IPV4_UNICAST).then_some(7),
                route: Route::Ipv4(IpPrefix::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24).unwrap()),
            }],
            attributes: attrs,
            partial,
            ..Update::default()
        };
        update_round_trip(&ctx, &u)?;
    }
}

// ---------------------------------------------------------------------------------------------
// OPEN, NOTIFICATION, ROUTE-REFRESH, KEEPALIVE
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn each_capability_round_trips(cap in capability()) {
        // RFC 5492 §4: code (1) | length (1) | value.
        let mut b = Vec::new();
        cap.encode(&mut b);
        prop_assert_eq!(b[0], cap.code());
        prop_assert_eq!(usize::from(b[1]), b.len() - 2);
        let open = Open {
            my_as: 64_512,
            hold_time: 90,
            bgp_id: Ipv4Addr::new(198, 18, 0, 1),
            capabilities: vec![cap],
        };
        round_trip(&CodecContext::default(), &Message::Open(open))?;
    }

    #[test]
    fn open_round_trips(open in open()) {
        let bytes = round_trip(&CodecContext::default(), &Message::Open(open.clone()))?;
        // RFC 4271 §4.2 fixed part.
        prop_assert_eq!(bytes[19], 4);
        prop_assert_eq!(&bytes[20..22], &open.my_as.to_be_bytes()[..]);
        prop_assert_eq!(&bytes[22..24], &open.hold_time.to_be_bytes()[..]);
        prop_assert_eq!(&bytes[24..28], &open.bgp_id.octets()[..]);
    }

    #[test]
    fn notification_round_trips((ctx, n) in with_context(|_| notification())) {
        round_trip(&ctx, &Message::Notification(n))?;
    }

    /// A NOTIFICATION fits exactly when 21 + data ≤ the session maximum.
    #[test]
    fn notification_size_limit(extended in any::<bool>(), extra in 0usize..=8) {
        let ctx = CodecContext { extended_message: extended, ..CodecContext::default() };
        let max = ctx.max_message_len();
        let len = max - 21 - 4 + extra;
        let n = Message::Notification(evpnd_wire::Notification { code: 6, subcode: 2, data: vec![0x5a; len] });
        let mut out = vec![1, 2, 3];
        let r = encode_message(&ctx, &n, &mut out);
        if 21 + len <= max {
            prop_assert!(r.is_ok());
            round_trip(&ctx, &n)?;
        } else {
            prop_assert_eq!(r, Err(EncodeError::TooLong { length: 21 + len, max }));
            prop_assert_eq!(out, vec![1, 2, 3], "a failed encode leaves the buffer as it was");
        }
    }

    #[test]
    fn route_refresh_round_trips((ctx, rr) in with_context(|_| route_refresh())) {
        let bytes = round_trip(&ctx, &Message::RouteRefresh(rr))?;
        // RFC 7313 §3.2: AFI (2) | subtype (1) | SAFI (1).
        prop_assert_eq!(bytes.len(), 23);
        prop_assert_eq!(&bytes[19..21], &rr.family.afi.0.to_be_bytes()[..]);
        prop_assert_eq!(bytes[21], rr.subtype);
        prop_assert_eq!(bytes[22], rr.family.safi.0);
    }
}

#[test]
fn keepalive_round_trips_on_every_context() {
    for four_octet_as in [false, true] {
        for extended_message in [false, true] {
            let ctx = CodecContext {
                four_octet_as,
                extended_message,
                ..CodecContext::default()
            };
            let bytes = round_trip(&ctx, &Message::Keepalive).unwrap();
            assert_eq!(
                bytes.len(),
                19,
                "RFC 4271 §4.4: a KEEPALIVE is the header alone"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Whole UPDATEs and message streams
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(1024))]

    #[test]
    fn whole_updates_round_trip((ctx, u) in with_context(update)) {
        update_round_trip(&ctx, &u)?;
    }

    /// Several messages back to back decode in order with `decode_all`.
    #[test]
    fn message_streams_round_trip((ctx, msgs) in with_context(|c| proptest::collection::vec(message(c), 1..=6))) {
        let ctx = CodecContext { extended_message: true, ..ctx };
        let mut buf = Vec::new();
        for m in &msgs {
            encode_message(&ctx, m, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let (decoded, err) = decode_all(&ctx, &buf);
        prop_assert_eq!(err, None);
        prop_assert_eq!(decoded.iter().map(|d| d.length).sum::<usize>(), buf.len());
        prop_assert!(decoded.iter().all(|d| d.outcome == Outcome::Accept));
        let got: Vec<Message> = decoded.into_iter().map(|d| d.message).collect();
        prop_assert_eq!(got, msgs);
    }
}

// ---------------------------------------------------------------------------------------------
// UpdatePacker
// ---------------------------------------------------------------------------------------------

type PackerCase = (
    CodecContext,
    Family,
    NextHop,
    Vec<PathAttribute>,
    AttrSet,
    Vec<Nlri>,
);

/// A session (mostly without extended messages), a family, origination attributes and a list of
/// routes long enough to need several messages.
fn packer_case() -> impl Strategy<Value = PackerCase> {
    prop_oneof![4 => codec_context_4096(), 1 => codec_context()]
        .prop_flat_map(|ctx| {
            proptest::sample::select(KNOWN_FAMILIES.to_vec()).prop_flat_map(move |family| {
                let max = if family == Family::L2VPN_EVPN {
                    400
                } else {
                    1500
                };
                (
                    Just(ctx.clone()),
                    Just(family),
                    next_hop_for(family),
                    attributes(&ctx, true, family == Family::IPV4_UNICAST),
                    nlri_list(&ctx, family, 1, max),
                )
            })
        })
        .prop_map(|(ctx, family, nh, (attrs, partial), mut routes)| {
            fix_type5_overlay(&mut routes, has_router_mac(&attrs));
            (ctx, family, nh, attrs, partial, routes)
        })
}

/// Decodes what the packer wrote and checks: every message accepted and within the size
/// limit, the concatenated routes equal `routes` in order, and density: no message could
/// have taken the first route of the next one. Returns the messages.
fn check_packed(
    ctx: &CodecContext,
    buf: &[u8],
    count: usize,
    routes: &[Nlri],
    take: impl Fn(&Update) -> Vec<Nlri>,
) -> Result<Vec<Update>, TestCaseError> {
    let max = ctx.max_message_len();
    let (decoded, err) = decode_all(ctx, buf);
    prop_assert_eq!(err, None);
    prop_assert_eq!(decoded.len(), count);
    let mut all = Vec::new();
    let mut updates = Vec::new();
    let mut next = 0;
    for (k, d) in decoded.iter().enumerate() {
        prop_assert!(
            d.length <= max,
            "message {} of {} bytes > {}",
            k,
            d.length,
            max
        );
        prop_assert_eq!(&d.outcome, &Outcome::Accept);
        let Message::Update(u) = &d.message else {
            return Err(TestCaseError::fail("packer wrote a non-UPDATE"));
        };
        let got = take(u);
        prop_assert!(!got.is_empty(), "message {} carries no route", k);
        next += got.len();
        if let Some(following) = routes.get(next) {
            prop_assert!(
                d.length + following.encoded_len() > max,
                "message {} ({} bytes) had room for the next route ({} bytes)",
                k,
                d.length,
                following.encoded_len()
            );
        }
        all.extend(got);
        updates.push(u.clone());
    }
    prop_assert_eq!(all.as_slice(), routes);
    Ok(updates)
}

proptest! {
    #![proptest_config(cfg(64))]

    #[test]
    fn packer_announce_keeps_order_limit_and_density(
        (ctx, family, nh, attrs, partial, routes) in packer_case()
    ) {
        let mut buf = Vec::new();
        let count = UpdatePacker::new(&ctx)
            .announce(family, &nh, &attrs, partial, &routes, &mut buf)
            .map_err(|e| TestCaseError::fail(format!("announce: {e}")))?;
        let updates = check_packed(&ctx, &buf, count, &routes, |u| {
            if family == Family::IPV4_UNICAST {
                u.nlri.clone()
            } else {
                u.mp_reach.as_ref().map(|m| m.nlri.clone()).unwrap_or_default()
            }
        })?;
        for u in &updates {
            prop_assert_eq!(&u.attributes, &attrs);
            prop_assert_eq!(u.partial, partial);
            prop_assert!(u.withdrawn.is_empty() && u.mp_unreach.is_none());
            match &u.mp_reach {
                Some(m) => {
                    prop_assert!(family != Family::IPV4_UNICAST);
                    prop_assert_eq!(m.family, family);
                    prop_assert_eq!(&m.next_hop, &nh);
                }
                None => prop_assert_eq!(family, Family::IPV4_UNICAST),
            }
        }
    }

    #[test]
    fn packer_withdraw_keeps_order_limit_and_density(
        (ctx, family, _nh, _attrs, _partial, routes) in packer_case()
    ) {
        let mut buf = Vec::new();
        let count = UpdatePacker::new(&ctx)
            .withdraw(family, &routes, &mut buf)
            .map_err(|e| TestCaseError::fail(format!("withdraw: {e}")))?;
        let updates = check_packed(&ctx, &buf, count, &routes, |u| {
            if family == Family::IPV4_UNICAST {
                u.withdrawn.clone()
            } else {
                u.mp_unreach.as_ref().map(|m| m.nlri.clone()).unwrap_or_default()
            }
        })?;
        for u in &updates {
            prop_assert!(u.attributes.is_empty() && u.nlri.is_empty() && u.mp_reach.is_none());
        }
    }
}

/// Sanity check of the strategies themselves: every generated UPDATE passes the encoder's own
/// validation, and the interesting cases (ADD-PATH ids, two-octet attribute lengths, type-5
/// routes with a Router's MAC, every attribute type) do get generated.
#[test]
fn strategies_cover_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut saw_type5_router_mac, mut saw_ext_len, mut saw_add_path) = (false, false, false);
    let mut saw_attr = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let (ctx, u) = with_context(update)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        assert_eq!(validate_update(&ctx, &u), Ok(()), "{u:?}");
        saw_add_path |= !ctx.add_path.is_empty() && u.announced().any(|(_, n)| n.path_id.is_some());
        for a in &u.attributes {
            saw_attr.insert(a.type_code());
            if let PathAttribute::Unknown(x) = a {
                saw_ext_len |= x.value.len() > 255;
            }
        }
        saw_type5_router_mac |= has_router_mac(&u.attributes)
            && u.announced()
                .any(|(_, n)| matches!(n.route, Route::Evpn(EvpnRoute::IpPrefix(_))));
    }
    assert!(saw_add_path && saw_ext_len && saw_type5_router_mac);
    for t in [
        1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 17, 18, 22, 23, 25, 32, 35,
    ] {
        assert!(saw_attr.contains(&t), "attribute {t} never generated");
    }
}
