//! JSON of path attributes (RFC 4271 §5 and the attribute RFCs) and of the communities they
//! carry; see `docs/decode-json.md` for the form of each.

use super::nlri::{label_fields, nlri_json};
use super::{family_fields, hex};
use crate::attribute::{
    attr_name, pmsi_type, AsPath, MpReach, MpUnreach, NextHop, Origin, PathAttribute, PmsiTunnelId,
    SegmentType,
};
use crate::community::{
    ipv6_admin_text, tunnel_type, ExtCommunityKind, ExtendedCommunity, Ipv6ExtCommunityKind,
    Ipv6ExtendedCommunity,
};
use crate::update::Update;
use serde_json::{json, Map, Value};

/// The `attributes` object of an UPDATE: every path attribute keyed by its name
/// ([`attribute_key`]), MP_REACH_NLRI and MP_UNREACH_NLRI included.
pub fn update_attributes_json(u: &Update) -> Value {
    let mut attrs = Map::new();
    if let Some(m) = &u.mp_unreach {
        attrs.insert("MP_UNREACH_NLRI".into(), mp_unreach_json(m));
    }
    if let Some(m) = &u.mp_reach {
        attrs.insert("MP_REACH_NLRI".into(), mp_reach_json(m));
    }
    for a in &u.attributes {
        attrs.insert(attribute_key(a), attribute_json(a));
    }
    Value::Object(attrs)
}

/// The key of attribute `a` in the `attributes` object: its RFC name ([`attr_name`]), or
/// `ATTR_<code>` for a type code this codec has no name for.
pub fn attribute_key(a: &PathAttribute) -> String {
    let code = a.type_code();
    match attr_name(code) {
        "UNKNOWN" => format!("ATTR_{code}"),
        name => name.to_string(),
    }
}

/// The value of path attribute `a` (RFC 4271 §5 and the attribute RFCs); see
/// `docs/decode-json.md` for the form of each attribute.
pub fn attribute_json(a: &PathAttribute) -> Value {
    match a {
        PathAttribute::Origin(o) => json!(match o {
            Origin::Igp => "igp",
            Origin::Egp => "egp",
            Origin::Incomplete => "incomplete",
        }),
        PathAttribute::AsPath(p) | PathAttribute::As4Path(p) => as_path_json(p),
        PathAttribute::NextHop(a) | PathAttribute::OriginatorId(a) => json!(a.to_string()),
        PathAttribute::Med(v) | PathAttribute::LocalPref(v) | PathAttribute::OnlyToCustomer(v) => {
            json!(v)
        }
        PathAttribute::AtomicAggregate => json!(true),
        PathAttribute::Aggregator(g) | PathAttribute::As4Aggregator(g) => {
            json!({"asn": g.asn, "address": g.address.to_string()})
        }
        PathAttribute::Communities(cs) => {
            Value::Array(cs.iter().map(|c| json!(c.to_string())).collect())
        }
        PathAttribute::ClusterList(ids) => {
            Value::Array(ids.iter().map(|i| json!(i.to_string())).collect())
        }
        PathAttribute::ExtendedCommunities(cs) => {
            Value::Array(cs.iter().map(ext_community_json).collect())
        }
        PathAttribute::Ipv6ExtendedCommunities(cs) => {
            Value::Array(cs.iter().map(ipv6_ext_community_json).collect())
        }
        PathAttribute::PmsiTunnel(p) => {
            let mut o = Map::new();
            o.insert("flags".into(), json!(p.flags));
            o.insert("leaf_info_required".into(), json!(p.flags & 0x01 != 0));
            o.insert("tunnel_type".into(), json!(p.tunnel_type()));
            label_fields("label", p.label, &mut o);
            o.insert("vni".into(), json!(p.label.vni()));
            match &p.tunnel {
                PmsiTunnelId::IngressReplication(ip) => {
                    o.insert("tunnel".into(), json!("ingress-replication"));
                    o.insert("endpoint".into(), json!(ip.to_string()));
                }
                PmsiTunnelId::Other { tunnel_type, id } => {
                    let name = if *tunnel_type == pmsi_type::NO_TUNNEL {
                        "none"
                    } else {
                        "other"
                    };
                    o.insert("tunnel".into(), json!(name));
                    o.insert("tunnel_id".into(), json!(hex(id)));
                }
            }
            Value::Object(o)
        }
        PathAttribute::TunnelEncapsulation(tlvs) => Value::Array(
            tlvs.iter()
                .map(|t| {
                    json!({
                        "tunnel_type": t.tunnel_type,
                        "tunnel": tunnel_name(t.tunnel_type),
                        "sub_tlvs": t.sub_tlvs.iter().map(|s| json!({
                            "type": s.sub_type,
                            "value": hex(&s.value),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
        PathAttribute::LargeCommunities(cs) => {
            Value::Array(cs.iter().map(|c| json!(c.to_string())).collect())
        }
        PathAttribute::Unknown(u) => json!({
            "type_code": u.type_code,
            "flags": u.flags,
            "value": hex(&u.value),
        }),
    }
}

fn as_path_json(p: &AsPath) -> Value {
    Value::Array(
        p.segments
            .iter()
            .map(|s| {
                let kind = match s.kind {
                    SegmentType::Set => "set",
                    SegmentType::Sequence => "sequence",
                    SegmentType::ConfedSequence => "confed-sequence",
                    SegmentType::ConfedSet => "confed-set",
                };
                json!({"type": kind, "asns": s.asns})
            })
            .collect(),
    )
}

fn next_hop_fields(nh: &NextHop, o: &mut Map<String, Value>) {
    match nh {
        NextHop::Ipv4(a) => {
            o.insert("next_hop".into(), json!(a.to_string()));
        }
        NextHop::Ipv6 { global, link_local } => {
            o.insert("next_hop".into(), json!(global.to_string()));
            if let Some(ll) = link_local {
                o.insert("next_hop_link_local".into(), json!(ll.to_string()));
            }
        }
        NextHop::Opaque(b) => {
            o.insert("next_hop".into(), Value::Null);
            o.insert("next_hop_hex".into(), json!(hex(b)));
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3): `family`, `afi`, `safi`, `next_hop`, `nlri`, `skipped_routes`
/// (EVPN routes of unknown types skipped by their length, RFC 7606 §5.4) and, when non-empty,
/// `opaque_nlri` (hex NLRI of a family this codec does not parse).
pub fn mp_reach_json(m: &MpReach) -> Value {
    let mut o = Map::new();
    family_fields(m.family, &mut o);
    next_hop_fields(&m.next_hop, &mut o);
    o.insert(
        "nlri".into(),
        Value::Array(m.nlri.iter().map(nlri_json).collect()),
    );
    o.insert("skipped_routes".into(), json!(m.skipped_routes));
    if !m.opaque_nlri.is_empty() {
        o.insert("opaque_nlri".into(), json!(hex(&m.opaque_nlri)));
    }
    Value::Object(o)
}

/// MP_UNREACH_NLRI (RFC 4760 §4): as [`mp_reach_json`] without the next hop.
pub fn mp_unreach_json(m: &MpUnreach) -> Value {
    let mut o = Map::new();
    family_fields(m.family, &mut o);
    o.insert(
        "nlri".into(),
        Value::Array(m.nlri.iter().map(nlri_json).collect()),
    );
    o.insert("skipped_routes".into(), json!(m.skipped_routes));
    if !m.opaque_nlri.is_empty() {
        o.insert("opaque_nlri".into(), json!(hex(&m.opaque_nlri)));
    }
    Value::Object(o)
}

/// Stable name of a tunnel type (IANA "BGP Tunnel Encapsulation Attribute Tunnel Types").
pub fn tunnel_name(t: u16) -> &'static str {
    match t {
        tunnel_type::VXLAN => "vxlan",
        tunnel_type::NVGRE => "nvgre",
        tunnel_type::MPLS => "mpls",
        tunnel_type::MPLS_IN_GRE => "mpls-in-gre",
        tunnel_type::VXLAN_GPE => "vxlan-gpe",
        tunnel_type::MPLS_IN_UDP => "mpls-in-udp",
        tunnel_type::GENEVE => "geneve",
        _ => "unknown",
    }
}

/// One extended community (RFC 4360 and the EVPN RFCs): `name`, `text` (the community's one
/// text form, its `Display`) and the typed fields of that kind. Names: `route-target`,
/// `encapsulation`, `mac-mobility`, `esi-label`, `es-import-rt`, `router-mac`,
/// `layer2-attributes`, `df-election`, `arp-nd`, `default-gateway`, `unknown`.
pub fn ext_community_json(c: &ExtendedCommunity) -> Value {
    with_text(ext_community_fields(c), c)
}

/// `v` (an object) with `text` = `c`'s text form added.
fn with_text(mut v: Value, c: &impl std::fmt::Display) -> Value {
    if let Value::Object(o) = &mut v {
        o.insert("text".into(), json!(c.to_string()));
    }
    v
}

fn ext_community_fields(c: &ExtendedCommunity) -> Value {
    match c.kind() {
        ExtCommunityKind::RouteTarget(rt) => {
            json!({"name": "route-target", "route_target": rt.to_string()})
        }
        ExtCommunityKind::Encapsulation { tunnel_type } => json!({
            "name": "encapsulation",
            "tunnel_type": tunnel_type,
            "tunnel": tunnel_name(tunnel_type),
        }),
        ExtCommunityKind::MacMobility { sequence, sticky } => {
            json!({"name": "mac-mobility", "sequence": sequence, "sticky": sticky})
        }
        ExtCommunityKind::EsiLabel {
            single_active,
            label,
        } => json!({
            "name": "esi-label",
            "single_active": single_active,
            "label": label.raw(),
            "label_mpls": label.mpls_label(),
        }),
        ExtCommunityKind::EsImportRouteTarget(mac) => {
            json!({"name": "es-import-rt", "mac": mac.to_string()})
        }
        ExtCommunityKind::RouterMac(mac) => {
            json!({"name": "router-mac", "mac": mac.to_string()})
        }
        ExtCommunityKind::Layer2Attributes {
            control_flags,
            l2_mtu,
        } => json!({
            "name": "layer2-attributes",
            "control_flags": control_flags,
            "l2_mtu": l2_mtu,
        }),
        ExtCommunityKind::DfElection { algorithm, bitmap } => {
            json!({"name": "df-election", "algorithm": algorithm, "bitmap": bitmap})
        }
        ExtCommunityKind::ArpNd {
            router,
            override_flag,
            proxy,
            immutable,
        } => json!({
            "name": "arp-nd",
            "router": router,
            "override": override_flag,
            "proxy": proxy,
            "immutable": immutable,
        }),
        ExtCommunityKind::DefaultGateway => json!({"name": "default-gateway"}),
        ExtCommunityKind::Unknown(b) => json!({
            "name": "unknown",
            "type_high": b[0],
            "subtype": b[1],
            "hex": hex(&b),
        }),
    }
}

/// One IPv6 address specific extended community (RFC 5701): `name`, `text` (its `Display`)
/// plus the fields of that kind. Names: `route-target` (`route_target`), `route-origin`
/// (`route_origin`), both as `"[2001:db8::1]:100"`, and `unknown` (`type_high`, `subtype`,
/// `hex` of all 20 bytes).
pub fn ipv6_ext_community_json(c: &Ipv6ExtendedCommunity) -> Value {
    with_text(ipv6_ext_community_fields(c), c)
}

fn ipv6_ext_community_fields(c: &Ipv6ExtendedCommunity) -> Value {
    match c.kind() {
        Ipv6ExtCommunityKind::RouteTarget { addr, value } => {
            json!({"name": "route-target", "route_target": ipv6_admin_text(addr, value)})
        }
        Ipv6ExtCommunityKind::RouteOrigin { addr, value } => {
            json!({"name": "route-origin", "route_origin": ipv6_admin_text(addr, value)})
        }
        Ipv6ExtCommunityKind::Unknown(b) => json!({
            "name": "unknown",
            "type_high": b[0],
            "subtype": b[1],
            "hex": hex(&b),
        }),
    }
}
