//! Interned path attribute sets.
//!
//! Most routes of one peer share one set of attributes (an EVPN leaf sends all its type-2 routes
//! of a VNI with the same next hop, route targets and encapsulation). The RIB keeps each
//! distinct set once, behind an [`Arc`], and every path points at it: a stored route costs one
//! pointer for its attributes, and comparing two paths' attributes is a pointer comparison.
//! The EVPN fields that travel in the NLRI but are route attributes (labels, ESI, gateway IP:
//! [`NlriExtras`]) are part of the set too: they are usually the same for every route of one
//! VNI, so they cost nothing per route.

use super::key::NlriExtras;
use evpnd_wire::attribute::{attr_type, flag};
use evpnd_wire::types::AS_TRANS;
use evpnd_wire::{
    Aggregator, AsPath, AsSegment, AttrSet, Community, ExtendedCommunity, NextHop, Origin,
    PathAttribute, PmsiTunnel, SegmentType,
};
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// One interned set of path attributes (RFC 4271 §5), as stored in the RIB and shared by every
/// path that carries exactly these attributes.
///
/// The next hop is part of the set (EVPN routes of one VTEP share it). AS4_PATH and
/// AS4_AGGREGATOR received from a 2-octet-AS peer are merged into `as_path` and `aggregator`
/// (RFC 6793 §4.2.3) and not kept. MP_REACH_NLRI/MP_UNREACH_NLRI and NEXT_HOP are not
/// attributes here: the routes live in the RIB and the next hop in `next_hop`. The non-key
/// fields of the path's NLRI are in `nlri_extras`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathAttrs {
    /// ORIGIN (RFC 4271 §5.1.1); IGP when a local route did not say.
    pub origin: Origin,
    /// AS_PATH (RFC 4271 §5.1.2) with 4-octet AS numbers.
    pub as_path: AsPath,
    /// The next hop: NEXT_HOP for IPv4 unicast, the MP_REACH_NLRI next hop otherwise.
    pub next_hop: NextHop,
    /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    pub med: Option<u32>,
    /// LOCAL_PREF as received from an internal peer or set on a local route (RFC 4271 §5.1.5).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE (RFC 4271 §5.1.6).
    pub atomic_aggregate: bool,
    /// AGGREGATOR (RFC 4271 §5.1.7) with a 4-octet AS number.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID (RFC 4456 §8).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456 §8), nearest cluster first.
    pub cluster_list: Vec<Ipv4Addr>,
    /// EXTENDED COMMUNITIES (RFC 4360), route targets among them.
    pub ext_communities: Vec<ExtendedCommunity>,
    /// PMSI_TUNNEL (RFC 6514 §5), carried by EVPN type-3 routes.
    pub pmsi_tunnel: Option<PmsiTunnel>,
    /// Only to Customer (RFC 9234 §5): the AS that marked the route as going to customers
    /// only. As received, or set by the ingress rule on a session with a role; never changed
    /// afterwards.
    pub only_to_customer: Option<u32>,
    /// Every other attribute (large communities, tunnel encapsulation, IPv6 address specific
    /// extended communities, unknown optional attributes with their flags as received), in
    /// type-code order.
    pub other: Vec<PathAttribute>,
    /// Known optional transitive attributes received with the Partial bit (RFC 4271 §5).
    pub partial: AttrSet,
    /// The fields of this path's NLRI that are route attributes rather than part of the route
    /// key (EVPN labels, ESI, gateway IP: RFC 7432 §7.1-7.2, RFC 9136 §3.1). Not sent as a
    /// path attribute: they go back into the NLRI when the route is advertised.
    pub nlri_extras: NlriExtras,
}

impl PathAttrs {
    /// An attribute set with only a next hop: ORIGIN IGP, empty AS_PATH.
    pub fn new(next_hop: NextHop) -> Self {
        PathAttrs {
            origin: Origin::Igp,
            as_path: AsPath::default(),
            next_hop,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: Vec::new(),
            originator_id: None,
            cluster_list: Vec::new(),
            ext_communities: Vec::new(),
            pmsi_tunnel: None,
            only_to_customer: None,
            other: Vec::new(),
            partial: AttrSet::default(),
            nlri_extras: NlriExtras::default(),
        }
    }

    /// Builds the set from decoded attributes. `four_octet_as` is false for a session without
    /// the 4-octet AS capability: AS4_PATH/AS4_AGGREGATOR are then merged (RFC 6793 §4.2.3).
    /// NEXT_HOP, if present, is ignored: the caller passes the next hop that applies to the
    /// family.
    pub fn from_attributes(
        attributes: &[PathAttribute],
        partial: AttrSet,
        next_hop: NextHop,
        four_octet_as: bool,
    ) -> Self {
        let mut a = PathAttrs::new(next_hop);
        a.partial = partial;
        let mut as4_path = None;
        let mut as4_aggregator = None;
        for attr in attributes {
            match attr {
                PathAttribute::Origin(o) => a.origin = *o,
                PathAttribute::AsPath(p) => a.as_path = p.clone(),
                PathAttribute::NextHop(_) => {}
                PathAttribute::Med(v) => a.med = Some(*v),
                PathAttribute::LocalPref(v) => a.local_pref = Some(*v),
                PathAttribute::AtomicAggregate => a.atomic_aggregate = true,
                PathAttribute::Aggregator(g) => a.aggregator = Some(*g),
                PathAttribute::Communities(c) => a.communities = c.clone(),
                PathAttribute::OriginatorId(id) => a.originator_id = Some(*id),
                PathAttribute::ClusterList(c) => a.cluster_list = c.clone(),
                PathAttribute::ExtendedCommunities(c) => a.ext_communities = c.clone(),
                PathAttribute::PmsiTunnel(p) => a.pmsi_tunnel = Some(p.clone()),
                PathAttribute::OnlyToCustomer(asn) => a.only_to_customer = Some(*asn),
                PathAttribute::As4Path(p) => as4_path = Some(p),
                PathAttribute::As4Aggregator(g) => as4_aggregator = Some(*g),
                other => a.other.push(other.clone()),
            }
        }
        if !four_octet_as {
            merge_as4(&mut a, as4_path, as4_aggregator);
        }
        a.other.sort_by_key(|x| x.type_code());
        a
    }

    /// The route target extended communities (RFC 4360 §4), for RT-Constraint and import.
    pub fn route_targets(&self) -> impl Iterator<Item = &ExtendedCommunity> {
        self.ext_communities.iter().filter(|c| c.is_route_target())
    }

    /// True when COMMUNITIES holds `c`.
    pub fn has_community(&self, c: Community) -> bool {
        self.communities.contains(&c)
    }

    /// The attributes as a list in type-code order (for display and re-origination).
    pub fn to_attributes(&self) -> Vec<PathAttribute> {
        let mut v = vec![
            PathAttribute::Origin(self.origin),
            PathAttribute::AsPath(self.as_path.clone()),
        ];
        if let NextHop::Ipv4(a) = self.next_hop {
            v.push(PathAttribute::NextHop(a));
        }
        if let Some(m) = self.med {
            v.push(PathAttribute::Med(m));
        }
        if let Some(l) = self.local_pref {
            v.push(PathAttribute::LocalPref(l));
        }
        if self.atomic_aggregate {
            v.push(PathAttribute::AtomicAggregate);
        }
        if let Some(g) = self.aggregator {
            v.push(PathAttribute::Aggregator(g));
        }
        if !self.communities.is_empty() {
            v.push(PathAttribute::Communities(self.communities.clone()));
        }
        if let Some(id) = self.originator_id {
            v.push(PathAttribute::OriginatorId(id));
        }
        if !self.cluster_list.is_empty() {
            v.push(PathAttribute::ClusterList(self.cluster_list.clone()));
        }
        if !self.ext_communities.is_empty() {
            v.push(PathAttribute::ExtendedCommunities(
                self.ext_communities.clone(),
            ));
        }
        if let Some(p) = &self.pmsi_tunnel {
            v.push(PathAttribute::PmsiTunnel(p.clone()));
        }
        if let Some(asn) = self.only_to_customer {
            v.push(PathAttribute::OnlyToCustomer(asn));
        }
        v.extend(self.other.iter().cloned());
        v.sort_by_key(|x| x.type_code());
        v
    }
}

/// RFC 6793 §4.2.3: rebuild the 4-octet AS path and aggregator from AS4_PATH/AS4_AGGREGATOR
/// received on a 2-octet session.
fn merge_as4(a: &mut PathAttrs, as4_path: Option<&AsPath>, as4_agg: Option<Aggregator>) {
    if let Some(agg) = a.aggregator {
        if agg.asn != u32::from(AS_TRANS) {
            // A 2-octet aggregator that is not AS_TRANS: AS4_AGGREGATOR and AS4_PATH are
            // ignored.
            return;
        }
        if let Some(g) = as4_agg {
            a.aggregator = Some(g);
        }
    }
    let Some(as4) = as4_path else {
        return;
    };
    let want = a.as_path.path_len();
    let have = as4.path_len();
    if have > want {
        // AS4_PATH longer than AS_PATH: ignore it.
        return;
    }
    // Take leading segments/AS numbers of AS_PATH so that the result counts as many AS
    // numbers as AS_PATH does.
    let mut need = want - have;
    let mut lead: Vec<AsSegment> = Vec::new();
    for s in &a.as_path.segments {
        if need == 0 && !s.kind.is_confed() {
            break;
        }
        match s.kind {
            SegmentType::Sequence => {
                let take = need.min(s.asns.len());
                if take > 0 {
                    lead.push(AsSegment {
                        kind: SegmentType::Sequence,
                        asns: s.asns[..take].to_vec(),
                    });
                }
                need -= take;
                if take < s.asns.len() {
                    break;
                }
            }
            SegmentType::Set => {
                lead.push(s.clone());
                need = need.saturating_sub(1);
            }
            SegmentType::ConfedSequence | SegmentType::ConfedSet => lead.push(s.clone()),
        }
    }
    for seg in &as4.segments {
        match lead.last_mut() {
            // Join the two halves of a sequence split by the merge.
            Some(l)
                if l.kind == SegmentType::Sequence
                    && seg.kind == SegmentType::Sequence
                    && l.asns.len() + seg.asns.len() <= 255 =>
            {
                l.asns.extend_from_slice(&seg.asns)
            }
            _ => lead.push(seg.clone()),
        }
    }
    a.as_path = AsPath { segments: lead };
}

/// The AS_PATH/AS4_PATH pair for a 2-octet session (RFC 6793 §4.2.2): AS numbers above 65535
/// become AS_TRANS in AS_PATH, and AS4_PATH carries the real path (without confederation
/// segments) when any substitution was needed.
pub(crate) fn split_as4(path: &AsPath) -> (AsPath, Option<AsPath>) {
    let big = |a: &u32| *a > u32::from(u16::MAX);
    if !path.segments.iter().any(|s| s.asns.iter().any(big)) {
        return (path.clone(), None);
    }
    let two = AsPath {
        segments: path
            .segments
            .iter()
            .map(|s| AsSegment {
                kind: s.kind,
                asns: s
                    .asns
                    .iter()
                    .map(|a| if big(a) { u32::from(AS_TRANS) } else { *a })
                    .collect(),
            })
            .collect(),
    };
    let four = AsPath {
        segments: path
            .segments
            .iter()
            .filter(|s| !s.kind.is_confed())
            .cloned()
            .collect(),
    };
    let four = (!four.segments.is_empty()).then_some(four);
    (two, four)
}

/// True for an unknown attribute that is passed on: optional transitive (RFC 4271 §5).
pub(crate) fn is_transitive_unknown(flags: u8) -> bool {
    flags & (flag::OPTIONAL | flag::TRANSITIVE) == flag::OPTIONAL | flag::TRANSITIVE
}

/// True for attribute types whose Partial bit we keep as received.
pub(crate) fn keeps_partial(type_code: u8) -> bool {
    evpnd_wire::attribute::expected_flags(type_code)
        .is_some_and(|f| f == flag::OPTIONAL | flag::TRANSITIVE)
        && type_code != attr_type::AS4_PATH
        && type_code != attr_type::AS4_AGGREGATOR
}

/// The set of distinct attribute sets in use. Entries nobody else refers to are dropped by
/// [`Interner::sweep`], which the RIB runs when the set has doubled since the last sweep
/// (amortised O(1) per insertion).
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Arc<PathAttrs>>,
    /// Size after the last sweep.
    swept_len: usize,
}

impl Interner {
    /// The shared copy of `attrs`.
    pub fn intern(&mut self, attrs: PathAttrs) -> Arc<PathAttrs> {
        if let Some(a) = self.set.get(&attrs) {
            return a.clone();
        }
        let a = Arc::new(attrs);
        self.set.insert(a.clone());
        a
    }

    /// The shared copy of `attrs`, cloning it only when it is new.
    pub fn intern_ref(&mut self, attrs: &PathAttrs) -> Arc<PathAttrs> {
        if let Some(a) = self.set.get(attrs) {
            return a.clone();
        }
        let a = Arc::new(attrs.clone());
        self.set.insert(a.clone());
        a
    }

    /// Number of distinct sets held (some may be unused until the next sweep).
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Drops the sets no path refers to any more, when enough may have accumulated.
    pub fn maybe_sweep(&mut self) {
        if self.set.len() > 2 * self.swept_len + 64 {
            self.sweep();
        }
    }

    /// Drops every set no path refers to any more.
    pub fn sweep(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
        self.swept_len = self.set.len();
    }
}
