//! Packing many routes into as few UPDATE messages as the session's maximum size allows
//! (RFC 4271 §4.3, RFC 8654), with the multiprotocol attribute first (RFC 7606 §5.1).

use super::validate::{check_nlri, invalid, validate_update};
use super::{AttrSet, Update};
use crate::attribute::{attr_type, flag, MpReach, NextHop, PathAttribute};
use crate::context::CodecContext;
use crate::error::EncodeError;
#[cfg(debug_assertions)]
use crate::error::Outcome;
use crate::evpn::EvpnRoute;
use crate::message::{put_header, MessageType, HEADER_LEN};
use crate::nlri::{Nlri, Route};
use crate::types::Family;

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod packer_tests {
    use super::*;
    use crate::error::Outcome;
    use crate::evpn::InclusiveMulticastRoute;
    use crate::types::RouteDistinguisher;
    use std::net::{IpAddr, Ipv4Addr};

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
