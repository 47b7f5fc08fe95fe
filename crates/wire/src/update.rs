//! The UPDATE message (RFC 4271 §4.3) with multiprotocol extensions (RFC 4760) and revised
//! error handling (RFC 7606).
//!
//! This module holds [`Update`] and [`AttrSet`]; the submodules hold its decoding with the
//! RFC 7606 actions (`decode`), what the encoder accepts (`validate`), its encoding (`encode`)
//! and the packing of many routes into few messages (`packer`).

mod decode;
mod encode;
mod packer;
mod validate;

pub use encode::encode_update;
pub use packer::UpdatePacker;
pub use validate::validate_update;

pub(crate) use decode::decode_update;

use crate::attribute::{attr_type, write_attribute, MpReach, MpUnreach, PathAttribute};
use crate::nlri::{Nlri, Route};
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
