//! JSON of NLRI: IPv4/IPv6 prefixes, RT-Constraint memberships (RFC 4684) and EVPN routes
//! (RFC 7432 §7, RFC 9136 §3.1).

use super::hex;
use crate::community::{ExtCommunityKind, ExtendedCommunity};
use crate::evpn::EvpnRoute;
use crate::nlri::{Nlri, Route, RtMembership};
use crate::types::{Esi, EsiKind, Label};
use serde_json::{json, Map, Value};

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
pub(super) fn label_fields(name: &str, l: Label, o: &mut Map<String, Value>) {
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
