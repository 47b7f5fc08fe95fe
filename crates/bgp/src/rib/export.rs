//! Export rules: which routes a group may receive and the attributes they carry out
//! (RFC 4271 §5 and §9.1.3, RFC 4456 §6 and §8, RFC 1997, RFC 6793 §4.2, RFC 9234 §5 egress).
//! The update-group planner (`out.rs`) calls these once per group and attribute set.

use super::intern::{is_transitive_unknown, keeps_partial, split_as4, PathAttrs};
use super::{GroupKey, RibConfig, SrcKind};
use crate::role::{otc_egress_allowed, otc_egress_value};
use evpnd_wire::attribute::flag;
use evpnd_wire::types::AS_TRANS;
use evpnd_wire::{
    Aggregator, AsPath, AsSegment, AttrSet, Community, Family, NextHop, PathAttribute, SegmentType,
};

/// NO_EXPORT_SUBCONFED (RFC 1997).
const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);

/// May a route with best path from a source of `kind` with attributes `attrs` be sent to the
/// members of group `key`? (RFC 4456 §6, RFC 1997, and RFC 9234 §5: a route with OTC does not
/// go to a Provider, a Peer or an RS.)
pub(crate) fn eligible(key: &GroupKey, kind: SrcKind, attrs: &PathAttrs) -> bool {
    if attrs.has_community(Community::NO_ADVERTISE) {
        return false;
    }
    if let Some(role) = key.local_role {
        if !otc_egress_allowed(role, attrs.only_to_customer) {
            return false;
        }
    }
    if key.external {
        return !attrs.has_community(Community::NO_EXPORT)
            && !attrs.has_community(NO_EXPORT_SUBCONFED);
    }
    // Internal peer: routes from internal non-clients go to clients only.
    key.rr_client || kind != SrcKind::Internal
}

/// The attributes of a route as sent to a group.
#[derive(Debug)]
pub(crate) struct OutAttrs {
    pub attributes: Vec<PathAttribute>,
    pub partial: AttrSet,
    pub next_hop: NextHop,
}

/// Prepends `asn` to the path (RFC 4271 §5.1.2): into the leading AS_SEQUENCE when it has
/// room, else as a new segment.
fn prepend(path: &mut AsPath, asn: u32) {
    match path.segments.first_mut() {
        Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => s.asns.insert(0, asn),
        _ => path.segments.insert(
            0,
            AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![asn],
            },
        ),
    }
}

/// The attributes sent to group `key` for a best path from a source of `kind` (router id
/// `source_router_id`) with attributes `a`.
pub(crate) fn out_attributes(
    cfg: &RibConfig,
    key: &GroupKey,
    kind: SrcKind,
    source_router_id: std::net::Ipv4Addr,
    a: &PathAttrs,
) -> OutAttrs {
    let mut v = Vec::with_capacity(8 + a.other.len());
    let mut partial = AttrSet::default();
    v.push(PathAttribute::Origin(a.origin));
    let mut path = a.as_path.clone();
    if key.external {
        // Confederations are not supported: nothing of ours to remove but segments a peer
        // may have sent; they must not leave the AS (RFC 5065 §5.3).
        path.segments.retain(|s| !s.kind.is_confed());
        prepend(&mut path, cfg.local_asn);
    }
    let (path, as4_path) = if key.four_octet_as {
        (path, None)
    } else {
        split_as4(&path)
    };
    v.push(PathAttribute::AsPath(path));
    if key.family == Family::IPV4_UNICAST {
        if let NextHop::Ipv4(nh) = a.next_hop {
            v.push(PathAttribute::NextHop(nh));
        }
    }
    if let Some(m) = a.med {
        // MED never leaves the AS it was received from (RFC 4271 §5.1.4); ours do.
        if !key.external || kind == SrcKind::Local {
            v.push(PathAttribute::Med(m));
        }
    }
    if !key.external {
        let lp = if kind == SrcKind::External {
            cfg.default_local_pref
        } else {
            a.local_pref.unwrap_or(cfg.default_local_pref)
        };
        v.push(PathAttribute::LocalPref(lp));
    }
    if a.atomic_aggregate {
        v.push(PathAttribute::AtomicAggregate);
    }
    if let Some(g) = a.aggregator {
        if !key.four_octet_as && g.asn > u32::from(u16::MAX) {
            v.push(PathAttribute::Aggregator(Aggregator {
                asn: u32::from(AS_TRANS),
                address: g.address,
            }));
            v.push(PathAttribute::As4Aggregator(g));
        } else {
            v.push(PathAttribute::Aggregator(g));
        }
    }
    if !a.communities.is_empty() {
        v.push(PathAttribute::Communities(a.communities.clone()));
    }
    let reflect = !key.external && matches!(kind, SrcKind::Client | SrcKind::Internal);
    // RFC 4684 §3.2: a membership route goes to a client with us as its originator (see
    // rtc.rs).
    let our_membership = key.rr_client && key.family == Family::RT_CONSTRAINT;
    if reflect {
        v.push(PathAttribute::OriginatorId(if our_membership {
            cfg.router_id
        } else {
            a.originator_id.unwrap_or(source_router_id)
        }));
        let mut cl = Vec::with_capacity(a.cluster_list.len() + 1);
        cl.push(cfg.cluster_id);
        cl.extend_from_slice(&a.cluster_list);
        v.push(PathAttribute::ClusterList(cl));
    } else if !key.external {
        // Local or external source to an internal peer: nothing to reflect, but keep what a
        // local route may carry.
        let originator = if our_membership {
            Some(cfg.router_id)
        } else {
            a.originator_id
        };
        if let Some(id) = originator {
            v.push(PathAttribute::OriginatorId(id));
        }
        if !a.cluster_list.is_empty() {
            v.push(PathAttribute::ClusterList(a.cluster_list.clone()));
        }
    }
    let ext: Vec<_> = if key.external {
        // The Transitive bit of the type octet (0x40 = non-transitive, RFC 4360 §2).
        a.ext_communities
            .iter()
            .filter(|c| c.type_high() & 0x40 == 0)
            .copied()
            .collect()
    } else {
        a.ext_communities.clone()
    };
    if !ext.is_empty() {
        v.push(PathAttribute::ExtendedCommunities(ext));
    }
    if let Some(p) = as4_path {
        v.push(PathAttribute::As4Path(p));
    }
    if let Some(p) = &a.pmsi_tunnel {
        v.push(PathAttribute::PmsiTunnel(p.clone()));
    }
    // RFC 9234 §5 egress: a route's OTC goes on unchanged; without one, it is added with our
    // AS towards a Customer, a Peer or an RS-Client.
    let otc = match key.local_role {
        Some(role) => otc_egress_value(role, cfg.local_asn, a.only_to_customer),
        None => a.only_to_customer,
    };
    if let Some(asn) = otc {
        v.push(PathAttribute::OnlyToCustomer(asn));
    }
    for o in &a.other {
        match o {
            PathAttribute::Unknown(u) => {
                if is_transitive_unknown(u.flags) {
                    // RFC 4271 §5: passed on with the Partial bit set.
                    let mut u = u.clone();
                    u.flags |= flag::PARTIAL;
                    v.push(PathAttribute::Unknown(u));
                }
            }
            PathAttribute::Ipv6ExtendedCommunities(cs) if key.external => {
                // Non-transitive ones stay inside the AS, as for EXTENDED COMMUNITIES (RFC
                // 5701 §2 with RFC 4360 §6); an emptied attribute is not sent.
                let kept: Vec<_> = cs.iter().filter(|c| c.is_transitive()).copied().collect();
                if !kept.is_empty() {
                    v.push(PathAttribute::Ipv6ExtendedCommunities(kept));
                }
            }
            other => v.push(other.clone()),
        }
    }
    v.sort_by_key(|x| x.type_code());
    for x in &v {
        let t = x.type_code();
        if a.partial.contains(t) && keeps_partial(t) {
            partial.insert(t);
        }
    }
    // RFC 4684 §3.2: a membership we advertise as our own to a client carries us as its next
    // hop. The RIB does not know the session's local address; the router id stands for it
    // (nothing resolves the next hop of a membership route). It also makes what a client is
    // sent the same whichever client's path is best, so a change of best path among clients
    // sends nothing (`plan_memberships`).
    let next_hop = if our_membership {
        NextHop::from_ip(std::net::IpAddr::V4(cfg.router_id))
    } else {
        a.next_hop.clone()
    };
    OutAttrs {
        attributes: v,
        partial,
        next_hop,
    }
}

impl PartialEq for OutAttrs {
    fn eq(&self, other: &Self) -> bool {
        self.attributes == other.attributes
            && self.partial == other.partial
            && self.next_hop == other.next_hop
    }
}
