//! JSON rendering of decoded messages: the stable schema of `evpnctl decode` and of the
//! daemon's `--json` outputs.
//!
//! Every function maps a typed value to a [`serde_json::Value`]. The schema is documented field
//! by field in `docs/decode-json.md`; the rules that hold everywhere are:
//!
//! * Object keys are sorted (serde_json's default map); consumers must look fields up by name.
//! * Names are stable lower-case words (`"update"`, `"l2vpn-evpn"`, `"route-target"`), except
//!   path attribute keys, which are the RFC names ([`attr_name`]: `"ORIGIN"`, `"AS_PATH"`, ...).
//! * Byte strings are lower-case hex without separators; MAC addresses and ESIs are colon-separated
//!   lower-case hex; addresses use the standard text forms; RDs and route targets use the
//!   `admin:number` form (`65000:100`, `198.19.0.1:100`, `4200000000L:7` for the 4-octet-AS type).
//! * A field a route type or message has but that is absent on the wire (a type-2 route without
//!   IP, without label 2) is `null`; a field the type does not have is not present.
//! * 3-octet label fields come in two views (RFC 8365 §5.1.3): `label…` is the raw 24-bit value
//!   (the VNI for VXLAN) and `label…_mpls` the high-order 20 bits (the MPLS label). `vni`
//!   repeats the 24-bit view of the route's first label.
//!
//! New fields may be added in later versions; existing fields keep their name, type and meaning.

use crate::attribute::{
    attr_name, pmsi_type, AsPath, MpReach, MpUnreach, NextHop, Origin, PathAttribute, PmsiTunnelId,
    SegmentType,
};
use crate::capability::{AddPathMode, Capability};
use crate::community::{
    ipv6_admin_text, tunnel_type, ExtCommunityKind, ExtendedCommunity, Ipv6ExtCommunityKind,
    Ipv6ExtendedCommunity,
};
use crate::error::{DecodeError, Malformation, Outcome};
use crate::evpn::EvpnRoute;
use crate::message::{Decoded, Message, Notification, Open, RouteRefresh, HEADER_LEN};
use crate::nlri::{Nlri, Route, RtMembership};
use crate::types::{Esi, EsiKind, Family, Label};
use crate::update::Update;
use serde_json::{json, Map, Value};

/// Lower-case hex of `bytes`, no separators (the form of every byte string in the schema).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The JSON of one decoded message (RFC 4271 §4), without its position in the input.
///
/// Always present: `type` (`"open"`, `"update"`, `"notification"`, `"keepalive"`,
/// `"route-refresh"`) and `length` (bytes, header included). The other fields depend on the
/// type; an UPDATE whose RFC 7606 outcome is not "accept" carries an `outcome` object
/// ([`outcome_json`]).
pub fn message_json(d: &Decoded) -> Value {
    message_value(d, None)
}

/// [`message_json`] for a message that starts `offset` bytes into a larger input: adds
/// `offset` (the message's first byte) and, in each `outcome.causes` entry, `input_offset`
/// (the absolute offset of the finding).
pub fn message_json_at(offset: usize, d: &Decoded) -> Value {
    message_value(d, Some(offset))
}

fn message_value(d: &Decoded, base: Option<usize>) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!(d.message.message_type().name()));
    o.insert("length".into(), json!(d.length));
    if let Some(b) = base {
        o.insert("offset".into(), json!(b));
    }
    match &d.message {
        Message::Open(open) => open_fields(open, &mut o),
        Message::Update(u) => {
            update_fields(u, &mut o);
            if d.outcome != Outcome::Accept {
                o.insert("outcome".into(), outcome_value(&d.outcome, Some(u), base));
            }
        }
        Message::Notification(n) => notification_fields(n, &mut o),
        Message::Keepalive => {}
        Message::RouteRefresh(rr) => route_refresh_fields(rr, &mut o),
    }
    Value::Object(o)
}

fn open_fields(open: &Open, o: &mut Map<String, Value>) {
    o.insert("version".into(), json!(4));
    o.insert("my_as".into(), json!(open.my_as));
    o.insert("asn".into(), json!(open.asn()));
    o.insert("hold_time".into(), json!(open.hold_time));
    o.insert("bgp_id".into(), json!(open.bgp_id.to_string()));
    o.insert(
        "capabilities".into(),
        Value::Array(open.capabilities.iter().map(capability_json).collect()),
    );
}

fn notification_fields(n: &Notification, o: &mut Map<String, Value>) {
    let (code_name, subcode_name) = n.describe();
    o.insert("code".into(), json!(n.code));
    o.insert("subcode".into(), json!(n.subcode));
    o.insert("code_name".into(), json!(code_name));
    o.insert("subcode_name".into(), json!(subcode_name));
    o.insert("data".into(), json!(hex(&n.data)));
    if let Some(text) = n.shutdown_communication() {
        o.insert("shutdown_communication".into(), json!(text));
    }
}

fn route_refresh_fields(rr: &RouteRefresh, o: &mut Map<String, Value>) {
    family_fields(rr.family, o);
    o.insert("subtype".into(), json!(rr.subtype));
    let name = match rr.subtype {
        0 => "normal",
        1 => "begin",
        2 => "end",
        _ => "reserved",
    };
    o.insert("subtype_name".into(), json!(name));
}

/// `family` (stable name), `afi` and `safi` numbers.
fn family_fields(f: Family, o: &mut Map<String, Value>) {
    o.insert("family".into(), json!(f.name()));
    o.insert("afi".into(), json!(f.afi.0));
    o.insert("safi".into(), json!(f.safi.0));
}

fn update_fields(u: &Update, o: &mut Map<String, Value>) {
    o.insert(
        "withdrawn".into(),
        Value::Array(u.withdrawn.iter().map(nlri_json).collect()),
    );
    o.insert("attributes".into(), update_attributes_json(u));
    o.insert(
        "nlri".into(),
        Value::Array(u.nlri.iter().map(nlri_json).collect()),
    );
    let partial: Vec<Value> = u
        .attributes
        .iter()
        .filter(|a| u.partial.contains(a.type_code()))
        .map(|a| json!(attribute_key(a)))
        .collect();
    if !partial.is_empty() {
        o.insert("partial".into(), Value::Array(partial));
    }
    if let Some(f) = u.as_end_of_rib() {
        o.insert("end_of_rib".into(), json!(f.name()));
    }
}

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

/// One NLRI: `family`, `path_id` (ADD-PATH, RFC 7911; `null` when the session has none) and
/// the fields of the route: `prefix` for IPv4/IPv6 unicast, the RT membership fields
/// (RFC 4684 §4) or those of [`evpn_route_json`].
pub fn nlri_json(n: &Nlri) -> Value {
    let mut o = match &n.route {
        Route::Ipv4(p) | Route::Ipv6(p) => {
            let mut o = Map::new();
            o.insert("prefix".into(), json!(p.to_string()));
            o
        }
        Route::RtConstraint(m) => rt_membership_fields(m),
        Route::Evpn(r) => match evpn_route_json(r) {
            Value::Object(o) => o,
            _ => Map::new(),
        },
    };
    o.insert("family".into(), json!(n.route.family().name()));
    o.insert("path_id".into(), json!(n.path_id));
    Value::Object(o)
}

fn rt_membership_fields(m: &RtMembership) -> Map<String, Value> {
    let mut o = Map::new();
    match m {
        RtMembership::Default => {
            o.insert("default".into(), json!(true));
            o.insert("prefix_len".into(), json!(0));
        }
        RtMembership::Target {
            origin_as,
            rt_len,
            route_target,
        } => {
            o.insert("default".into(), json!(false));
            o.insert("prefix_len".into(), json!(m.prefix_len()));
            o.insert("origin_as".into(), json!(origin_as));
            o.insert("rt_len".into(), json!(rt_len));
            let ec = ExtendedCommunity(*route_target);
            let text = match ec.kind() {
                ExtCommunityKind::RouteTarget(rt) if *rt_len == 64 => json!(rt.to_string()),
                _ => Value::Null,
            };
            o.insert("route_target".into(), text);
            o.insert("route_target_hex".into(), json!(hex(route_target)));
        }
    }
    o
}

/// Stable name of an EVPN route type (RFC 7432 §7, RFC 9136 §3).
pub fn route_type_name(route_type: u8) -> &'static str {
    match route_type {
        1 => "ethernet-auto-discovery",
        2 => "mac-ip-advertisement",
        3 => "inclusive-multicast-ethernet-tag",
        4 => "ethernet-segment",
        5 => "ip-prefix",
        _ => "unknown",
    }
}

/// `<name>` = raw 24-bit value, `<name>_mpls` = its high-order 20 bits (RFC 8365 §5.1.3).
fn label_fields(name: &str, l: Label, o: &mut Map<String, Value>) {
    o.insert(name.into(), json!(l.raw()));
    o.insert(format!("{name}_mpls"), json!(l.mpls_label()));
}

fn esi_fields(esi: &Esi, o: &mut Map<String, Value>) {
    o.insert("esi".into(), json!(esi.to_string()));
    o.insert("esi_type".into(), json!(esi.esi_type()));
    let detail = match esi.kind() {
        EsiKind::Lacp {
            system_mac,
            port_key,
        } => json!({"system_mac": system_mac.to_string(), "port_key": port_key}),
        EsiKind::Bridge { root_mac, priority } => {
            json!({"root_bridge_mac": root_mac.to_string(), "priority": priority})
        }
        EsiKind::MacBased {
            system_mac,
            discriminator,
        } => json!({"system_mac": system_mac.to_string(), "discriminator": discriminator}),
        EsiKind::RouterId {
            router_id,
            discriminator,
        } => json!({"router_id": router_id.to_string(), "discriminator": discriminator}),
        EsiKind::As { asn, discriminator } => {
            json!({"asn": asn, "discriminator": discriminator})
        }
        EsiKind::Arbitrary(_) | EsiKind::Other { .. } => return,
    };
    o.insert("esi_detail".into(), detail);
}

/// One EVPN route (RFC 7432 §7, RFC 9136 §3.1): `route_type`, `route_type_name`, `rd` and the
/// fields of its type. Type 1: `esi`, `esi_type`, `ethernet_tag`, `label`, `label_mpls`, `vni`.
/// Type 2: `esi`, `esi_type`, `ethernet_tag`, `mac`, `ip` (or null), `label1`, `label1_mpls`,
/// `vni`, `label2` and `label2_mpls` (or null). Type 3: `ethernet_tag`, `originator_ip`.
/// Type 4: `esi`, `esi_type`, `originator_ip`. Type 5: `esi`, `esi_type`, `ethernet_tag`,
/// `prefix` (`addr/len`, address bits as received), `gateway_ip`, `label`, `label_mpls`, `vni`.
/// `esi_detail` is added for ESI types 1–5.
pub fn evpn_route_json(r: &EvpnRoute) -> Value {
    let mut o = Map::new();
    o.insert("route_type".into(), json!(r.route_type()));
    o.insert(
        "route_type_name".into(),
        json!(route_type_name(r.route_type())),
    );
    o.insert("rd".into(), json!(r.rd().to_string()));
    match r {
        EvpnRoute::EthernetAd(a) => {
            esi_fields(&a.esi, &mut o);
            o.insert("ethernet_tag".into(), json!(a.ethernet_tag));
            label_fields("label", a.label, &mut o);
            o.insert("vni".into(), json!(a.label.vni()));
        }
        EvpnRoute::MacIp(m) => {
            esi_fields(&m.esi, &mut o);
            o.insert("ethernet_tag".into(), json!(m.ethernet_tag));
            o.insert("mac".into(), json!(m.mac.to_string()));
            o.insert("ip".into(), json!(m.ip.map(|i| i.to_string())));
            label_fields("label1", m.label1, &mut o);
            o.insert("vni".into(), json!(m.label1.vni()));
            match m.label2 {
                Some(l) => label_fields("label2", l, &mut o),
                None => {
                    o.insert("label2".into(), Value::Null);
                    o.insert("label2_mpls".into(), Value::Null);
                }
            }
        }
        EvpnRoute::InclusiveMulticast(i) => {
            o.insert("ethernet_tag".into(), json!(i.ethernet_tag));
            o.insert("originator_ip".into(), json!(i.originator.to_string()));
        }
        EvpnRoute::EthernetSegment(s) => {
            esi_fields(&s.esi, &mut o);
            o.insert("originator_ip".into(), json!(s.originator.to_string()));
        }
        EvpnRoute::IpPrefix(p) => {
            esi_fields(&p.esi, &mut o);
            o.insert("ethernet_tag".into(), json!(p.ethernet_tag));
            o.insert(
                "prefix".into(),
                json!(format!("{}/{}", p.prefix, p.prefix_len)),
            );
            o.insert("gateway_ip".into(), json!(p.gateway.to_string()));
            label_fields("label", p.label, &mut o);
            o.insert("vni".into(), json!(p.label.vni()));
        }
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

/// One OPEN capability (RFC 5492): `code`, `name` ([`Capability::name`]) and the fields of
/// that capability.
pub fn capability_json(c: &Capability) -> Value {
    let mut o = Map::new();
    o.insert("code".into(), json!(c.code()));
    o.insert("name".into(), json!(c.name()));
    let fam = |f: Family| json!(f.name());
    match c {
        Capability::Multiprotocol(f) => family_fields(*f, &mut o),
        Capability::RouteRefresh
        | Capability::ExtendedMessage
        | Capability::EnhancedRouteRefresh => {}
        Capability::GracefulRestart(gr) => {
            o.insert("restarting".into(), json!(gr.restarting));
            o.insert("notification".into(), json!(gr.notification));
            o.insert("restart_time".into(), json!(gr.restart_time));
            let fs: Vec<Value> = gr
                .families
                .iter()
                .map(|f| json!({"family": fam(f.family), "forwarding_preserved": f.forwarding_preserved}))
                .collect();
            o.insert("families".into(), Value::Array(fs));
        }
        Capability::FourOctetAs(asn) => {
            o.insert("asn".into(), json!(asn));
        }
        Capability::Role(role) => {
            o.insert("role".into(), json!(role.0));
            o.insert("role_name".into(), json!(role.name()));
        }
        Capability::AddPath(fs) => {
            let fs: Vec<Value> = fs
                .iter()
                .map(|f| {
                    let mode = match f.mode {
                        AddPathMode::Receive => "receive",
                        AddPathMode::Send => "send",
                        AddPathMode::Both => "both",
                    };
                    json!({"family": fam(f.family), "mode": mode})
                })
                .collect();
            o.insert("families".into(), Value::Array(fs));
        }
        Capability::LongLivedGracefulRestart(fs) => {
            let fs: Vec<Value> = fs
                .iter()
                .map(|f| {
                    json!({
                        "family": fam(f.family),
                        "flags": f.flags,
                        "forwarding_preserved": f.flags & 0x80 != 0,
                        "stale_time": f.stale_time,
                    })
                })
                .collect();
            o.insert("families".into(), Value::Array(fs));
        }
        Capability::Fqdn { hostname, domain } => {
            o.insert("hostname".into(), json!(String::from_utf8_lossy(hostname)));
            o.insert("domain".into(), json!(String::from_utf8_lossy(domain)));
        }
        Capability::Unknown { value, .. } => {
            o.insert("value".into(), json!(hex(value)));
        }
    }
    Value::Object(o)
}

/// One finding ([`Malformation`]): `offset` (from the message's first byte), `field`,
/// `attribute` (name or null), `attribute_code` (or null), `reason`; plus `input_offset`
/// (absolute) when the message's position `base` in the input is known.
pub fn cause_json(m: &Malformation, base: Option<usize>) -> Value {
    let mut o = Map::new();
    o.insert("offset".into(), json!(m.offset));
    if let Some(b) = base {
        o.insert("input_offset".into(), json!(b.saturating_add(m.offset)));
    }
    o.insert("field".into(), json!(m.field));
    o.insert("attribute".into(), json!(m.attribute.map(attr_name)));
    o.insert("attribute_code".into(), json!(m.attribute));
    o.insert("reason".into(), json!(m.reason));
    Value::Object(o)
}

/// The RFC 7606 outcome of an UPDATE (RFC 7606 §2): `action` (`"accept"`,
/// `"attribute-discard"`, `"treat-as-withdraw"`, `"afi-safi-disable"`) and `causes`
/// ([`cause_json`]); `family` for AFI/SAFI disable; for treat-as-withdraw with the UPDATE
/// given, `withdraw`: every NLRI to withdraw ([`Update::treat_as_withdraw`]).
pub fn outcome_json(outcome: &Outcome, update: Option<&Update>) -> Value {
    outcome_value(outcome, update, None)
}

fn outcome_value(outcome: &Outcome, update: Option<&Update>, base: Option<usize>) -> Value {
    let mut o = Map::new();
    o.insert("action".into(), json!(outcome.name()));
    o.insert(
        "causes".into(),
        Value::Array(
            outcome
                .causes()
                .iter()
                .map(|m| cause_json(m, base))
                .collect(),
        ),
    );
    match outcome {
        Outcome::AfiSafiDisable { family, .. } => {
            o.insert("family".into(), json!(family.name()));
        }
        Outcome::TreatAsWithdraw(_) => {
            if let Some(u) = update {
                let w: Vec<Value> = u.treat_as_withdraw().map(|(_, n)| nlri_json(n)).collect();
                o.insert("withdraw".into(), Value::Array(w));
            }
        }
        Outcome::Accept | Outcome::AttributeDiscard(_) => {}
    }
    Value::Object(o)
}

/// The NOTIFICATION a session reset calls for: `code`, `subcode`, `code_name`,
/// `subcode_name` (RFC 4271 §4.5) and `data` (hex).
pub fn notification_json(n: &Notification) -> Value {
    let (code_name, subcode_name) = n.describe();
    json!({
        "code": n.code,
        "subcode": n.subcode,
        "code_name": code_name,
        "subcode_name": subcode_name,
        "data": hex(&n.data),
    })
}

/// The error object for a message that could not be decoded, starting `offset_of_message`
/// bytes into the input.
///
/// Fields: `type` = `"error"`; `error` = `"session-reset"` (RFC 7606 §2: the message is
/// unusable and the session must be closed) or `"truncated"` (the input ends inside the
/// message); `message_offset`; `offset` (absolute offset of the fault); `offset_in_message`;
/// `field`; `attribute`; `attribute_code`; `reason`; and `outcome`: for a reset
/// `{"action": "session-reset", "causes": [...], "notification": {...}}`, for a truncated
/// input `null` (a live session would wait for more bytes). A truncated input also has
/// `needed` and `available` (bytes of the message).
pub fn reset_json(offset_of_message: usize, err: &DecodeError) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!("error"));
    o.insert("message_offset".into(), json!(offset_of_message));
    match err {
        DecodeError::Reset(r) => {
            let m = &r.cause;
            o.insert("error".into(), json!("session-reset"));
            o.insert(
                "offset".into(),
                json!(offset_of_message.saturating_add(m.offset)),
            );
            o.insert("offset_in_message".into(), json!(m.offset));
            o.insert("field".into(), json!(m.field));
            o.insert("attribute".into(), json!(m.attribute.map(attr_name)));
            o.insert("attribute_code".into(), json!(m.attribute));
            o.insert("reason".into(), json!(m.reason));
            o.insert(
                "outcome".into(),
                json!({
                    "action": "session-reset",
                    "causes": [cause_json(m, Some(offset_of_message))],
                    "notification": notification_json(&Notification::from_reset(r)),
                }),
            );
        }
        DecodeError::Incomplete { needed, available } => {
            let (field, reason) = if *needed <= HEADER_LEN && *available < HEADER_LEN {
                (
                    "header",
                    format!("input ends {available} bytes into the {HEADER_LEN}-byte header"),
                )
            } else {
                (
                    "header.length",
                    format!("input ends {available} bytes into a message of length {needed}"),
                )
            };
            o.insert("error".into(), json!("truncated"));
            o.insert(
                "offset".into(),
                json!(offset_of_message.saturating_add(*available)),
            );
            o.insert("offset_in_message".into(), json!(available));
            o.insert("field".into(), json!(field));
            o.insert("attribute".into(), Value::Null);
            o.insert("attribute_code".into(), Value::Null);
            o.insert("reason".into(), json!(reason));
            o.insert("needed".into(), json!(needed));
            o.insert("available".into(), json!(available));
            o.insert("outcome".into(), Value::Null);
        }
    }
    Value::Object(o)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::context::CodecContext;
    use crate::evpn::{IpPrefixRoute, MacIpRoute};
    use crate::message::decode_message;
    use crate::types::{MacAddress, RouteDistinguisher};
    use std::net::{IpAddr, Ipv4Addr};

    fn mac_ip() -> EvpnRoute {
        EvpnRoute::MacIp(MacIpRoute {
            rd: "198.19.0.1:100".parse().unwrap(),
            esi: Esi::ZERO,
            ethernet_tag: 0,
            mac: MacAddress([0x02, 0, 0, 0, 0, 0x01]),
            ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            // Bytes 00 00 64: VNI 100; as MPLS, label 6 (0x006) with the low nibble 4.
            label1: Label::from_vni(100).unwrap(),
            label2: None,
        })
    }

    #[test]
    fn type2_route_fields_and_label_views() {
        let v = evpn_route_json(&mac_ip());
        assert_eq!(v["route_type"], 2);
        assert_eq!(v["route_type_name"], "mac-ip-advertisement");
        assert_eq!(v["rd"], "198.19.0.1:100");
        assert_eq!(v["esi"], "00:00:00:00:00:00:00:00:00:00");
        assert_eq!(v["esi_type"], 0);
        assert_eq!(v["mac"], "02:00:00:00:00:01");
        assert_eq!(v["ip"], "192.0.2.1");
        assert_eq!(v["label1"], 100);
        assert_eq!(v["label1_mpls"], 6);
        assert_eq!(v["vni"], 100);
        assert!(v["label2"].is_null());
        assert!(v["label2_mpls"].is_null());
        assert!(v.get("originator_ip").is_none());
        assert!(v.get("esi_detail").is_none());
    }

    #[test]
    fn type5_prefix_keeps_received_bits_and_esi_detail() {
        let r = EvpnRoute::IpPrefix(IpPrefixRoute {
            rd: RouteDistinguisher::as2(65000, 100),
            // Type 1 ESI (RFC 7432 §5): LACP system MAC then a 2-octet port key.
            esi: Esi([1, 0x02, 0, 0, 0, 0, 0x09, 0x12, 0x34, 0]),
            ethernet_tag: 0,
            prefix_len: 24,
            prefix: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
            gateway: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            label: Label::from_mpls(300, true).unwrap(),
        });
        let v = evpn_route_json(&r);
        assert_eq!(v["prefix"], "203.0.113.7/24");
        assert_eq!(v["gateway_ip"], "0.0.0.0");
        assert_eq!(v["label"], (300 << 4) | 1);
        assert_eq!(v["label_mpls"], 300);
        assert_eq!(v["esi_type"], 1);
        assert_eq!(v["esi_detail"]["system_mac"], "02:00:00:00:00:09");
        assert_eq!(v["esi_detail"]["port_key"], 0x1234);
    }

    #[test]
    fn ext_communities_by_name() {
        let rt = ExtendedCommunity([0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100]);
        assert_eq!(
            ext_community_json(&rt),
            json!({"name": "route-target", "route_target": "65000:100", "text": "rt 65000:100"})
        );
        let encap = ExtendedCommunity([0x03, 0x0c, 0, 0, 0, 0, 0, 8]);
        assert_eq!(
            ext_community_json(&encap),
            json!({"name": "encapsulation", "tunnel_type": 8, "tunnel": "vxlan", "text": "encap vxlan"})
        );
        // ARP/ND with the O and I flags (RFC 9047 §3.1).
        let arp = ExtendedCommunity([0x06, 0x08, 0x0a, 0, 0, 0, 0, 0]);
        let v = ext_community_json(&arp);
        assert_eq!(v["router"], false);
        assert_eq!(v["override"], true);
        assert_eq!(v["proxy"], false);
        assert_eq!(v["immutable"], true);
        assert_eq!(v["text"], "arp-nd override,immutable");
        let odd = ExtendedCommunity([0x43, 0x99, 1, 2, 3, 4, 5, 6]);
        assert_eq!(ext_community_json(&odd)["hex"], "4399010203040506");
        assert_eq!(ext_community_json(&odd)["text"], "0x4399010203040506");
    }

    #[test]
    fn only_to_customer_and_bgp_role() {
        assert_eq!(
            attribute_json(&PathAttribute::OnlyToCustomer(65001)),
            json!(65001)
        );
        assert_eq!(
            capability_json(&Capability::Role(crate::capability::BgpRole::CUSTOMER)),
            json!({"code": 9, "name": "role", "role": 3, "role_name": "customer"})
        );
    }

    #[test]
    fn ipv6_address_specific_communities() {
        let addr = "2001:db8::1".parse().unwrap();
        let rt = Ipv6ExtendedCommunity::new(Ipv6ExtCommunityKind::RouteTarget { addr, value: 100 });
        let ro = Ipv6ExtendedCommunity::new(Ipv6ExtCommunityKind::RouteOrigin { addr, value: 7 });
        let odd = Ipv6ExtendedCommunity([0x40; 20]);
        let v = attribute_json(&PathAttribute::Ipv6ExtendedCommunities(vec![rt, ro, odd]));
        assert_eq!(
            v[0],
            json!({"name": "route-target", "route_target": "[2001:db8::1]:100",
                "text": "rt [2001:db8::1]:100"})
        );
        assert_eq!(
            v[1],
            json!({"name": "route-origin", "route_origin": "[2001:db8::1]:7",
                "text": "route-origin [2001:db8::1]:7"})
        );
        assert_eq!(v[2]["name"], "unknown");
        assert_eq!(v[2]["text"], format!("0x{}", "40".repeat(20)));
        assert_eq!(v[2]["type_high"], 0x40);
        assert_eq!(v[2]["hex"], "40".repeat(20));
    }

    #[test]
    fn keepalive_and_reset_objects() {
        let ctx = CodecContext::default();
        let mut ka = vec![0xff; 16];
        ka.extend_from_slice(&[0, 19, 4]);
        let d = decode_message(&ctx, &ka).unwrap();
        assert_eq!(message_json(&d), json!({"type": "keepalive", "length": 19}));
        assert_eq!(message_json_at(38, &d)["offset"], 38);

        // KEEPALIVE with length 20: Bad Message Length, data = the length field (RFC 4271 §6.1).
        let mut bad = vec![0xff; 16];
        bad.extend_from_slice(&[0, 20, 4, 0]);
        let e = decode_message(&ctx, &bad).unwrap_err();
        let v = reset_json(100, &e);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"], "session-reset");
        assert_eq!(v["offset"], 116);
        assert_eq!(v["offset_in_message"], 16);
        assert_eq!(v["outcome"]["action"], "session-reset");
        assert_eq!(v["outcome"]["notification"]["code"], 1);
        assert_eq!(v["outcome"]["notification"]["subcode"], 2);
        assert_eq!(v["outcome"]["notification"]["data"], "0014");
        assert_eq!(v["outcome"]["causes"][0]["input_offset"], 116);

        let t = reset_json(
            5,
            &DecodeError::Incomplete {
                needed: 19,
                available: 7,
            },
        );
        assert_eq!(t["error"], "truncated");
        assert_eq!(t["offset"], 12);
        assert!(t["outcome"].is_null());
    }

    #[test]
    fn update_end_of_rib_and_treat_as_withdraw() {
        let eor = Update::end_of_rib(Family::L2VPN_EVPN);
        let d = Decoded {
            message: Message::Update(eor),
            length: 30,
            outcome: Outcome::Accept,
        };
        let v = message_json(&d);
        assert_eq!(v["end_of_rib"], "l2vpn-evpn");
        assert!(v.get("outcome").is_none());
        assert_eq!(v["attributes"]["MP_UNREACH_NLRI"]["family"], "l2vpn-evpn");

        let u = Update {
            mp_reach: Some(MpReach::new(
                Family::L2VPN_EVPN,
                NextHop::Ipv4(Ipv4Addr::new(198, 18, 0, 1)),
                vec![Nlri::new(Route::Evpn(mac_ip()))],
            )),
            ..Update::default()
        };
        let cause = Malformation::new(40, "path_attributes", "missing ORIGIN").in_attribute(1);
        let d = Decoded {
            message: Message::Update(u),
            length: 70,
            outcome: Outcome::TreatAsWithdraw(vec![cause]),
        };
        let v = message_json_at(19, &d);
        let out = &v["outcome"];
        assert_eq!(out["action"], "treat-as-withdraw");
        assert_eq!(out["causes"][0]["attribute"], "ORIGIN");
        assert_eq!(out["causes"][0]["offset"], 40);
        assert_eq!(out["causes"][0]["input_offset"], 59);
        assert_eq!(out["withdraw"].as_array().unwrap().len(), 1);
        assert_eq!(out["withdraw"][0]["mac"], "02:00:00:00:00:01");
        assert_eq!(out["withdraw"][0]["family"], "l2vpn-evpn");
        assert!(v.get("end_of_rib").is_none());
        let reach = &v["attributes"]["MP_REACH_NLRI"];
        assert_eq!(reach["next_hop"], "198.18.0.1");
        assert_eq!(reach["skipped_routes"], 0);
        assert!(reach.get("opaque_nlri").is_none());
    }
}
