//! `ListRoutes`: the Loc-RIB rendered for the API (and so for `evpnctl show routes`).

use crate::daemon::Core;
use evpnd_api::v1;
use evpnd_bgp::rib::{Path, RouteSource};
use evpnd_wire::community::ExtCommunityKind;
use evpnd_wire::{
    EvpnRoute, ExtendedCommunity, Family, MacAddress, NextHop, Route, RouteDistinguisher,
};
use tonic::Status;

const FAMILIES: [Family; 4] = [
    Family::L2VPN_EVPN,
    Family::RT_CONSTRAINT,
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
];

/// The routes matching `filter`.
pub fn list_routes(
    core: &Core,
    filter: &v1::ListRoutesRequest,
) -> Result<v1::ListRoutesResponse, Status> {
    let families: Vec<Family> = if filter.family.is_empty() {
        FAMILIES.to_vec()
    } else {
        let f = FAMILIES
            .iter()
            .find(|f| f.name() == filter.family)
            .ok_or_else(|| {
                Status::invalid_argument(format!("unknown family {:?}", filter.family))
            })?;
        vec![*f]
    };
    let rd: Option<RouteDistinguisher> = if filter.rd.is_empty() {
        None
    } else {
        Some(
            filter
                .rd
                .parse()
                .map_err(|e| Status::invalid_argument(format!("rd: {e}")))?,
        )
    };
    let mac: Option<MacAddress> = if filter.mac.is_empty() {
        None
    } else {
        Some(
            filter
                .mac
                .parse()
                .map_err(|e| Status::invalid_argument(format!("mac: {e}")))?,
        )
    };
    let mut routes = Vec::new();
    for family in families {
        for (route, paths) in core.rib.loc_rib(family) {
            // The route as its best path carries it (labels, ESI, gateway IP of that path).
            let route = &route;
            if !matches(route, &paths, filter, rd, mac) {
                continue;
            }
            routes.push(v1::RibEntry {
                family: family.name(),
                prefix: route_text(route),
                evpn: match route {
                    Route::Evpn(e) => Some(evpn(e)),
                    _ => None,
                },
                paths: paths
                    .iter()
                    .enumerate()
                    .map(|(i, p)| path(core, p, i == 0))
                    .collect(),
            });
        }
    }
    Ok(v1::ListRoutesResponse { routes })
}

fn matches(
    route: &Route,
    paths: &[Path],
    f: &v1::ListRoutesRequest,
    rd: Option<RouteDistinguisher>,
    mac: Option<MacAddress>,
) -> bool {
    let evpn = match route {
        Route::Evpn(e) => Some(e),
        _ => None,
    };
    if f.route_type != 0 && evpn.is_none_or(|e| u32::from(e.route_type()) != f.route_type) {
        return false;
    }
    if let Some(rd) = rd {
        if evpn.is_none_or(|e| e.rd() != rd) {
            return false;
        }
    }
    if let Some(mac) = mac {
        if !matches!(evpn, Some(EvpnRoute::MacIp(r)) if r.mac == mac) {
            return false;
        }
    }
    if f.vni != 0 {
        let route_vni = match evpn {
            Some(EvpnRoute::MacIp(r)) => Some(r.label1.vni()),
            Some(EvpnRoute::IpPrefix(r)) => Some(r.label.vni()),
            Some(EvpnRoute::EthernetAd(r)) => Some(r.label.vni()),
            _ => None,
        };
        let pmsi_vni = paths
            .first()
            .and_then(|p| p.attrs.pmsi_tunnel.as_ref())
            .map(|t| t.label.vni());
        if route_vni.or(pmsi_vni) != Some(f.vni) {
            return false;
        }
    }
    true
}

/// The route as one line of text, in the bracketed form FRR prints for EVPN.
pub fn route_text(route: &Route) -> String {
    match route {
        Route::Ipv4(p) | Route::Ipv6(p) => p.to_string(),
        Route::RtConstraint(m) => match m {
            evpnd_wire::RtMembership::Default => "default".into(),
            evpnd_wire::RtMembership::Target {
                origin_as,
                rt_len,
                route_target,
            } => {
                let rt = ExtendedCommunity(*route_target);
                let rt_text = match rt.kind() {
                    ExtCommunityKind::RouteTarget(t) => t.to_string(),
                    _ => ext_community_text(&rt),
                };
                format!("{origin_as}:{rt_text}/{}", u32::from(*rt_len) + 32)
            }
        },
        Route::Evpn(e) => match e {
            EvpnRoute::EthernetAd(r) => format!("[1]:[{}]:[{}]:[{}]", r.rd, r.esi, r.ethernet_tag),
            EvpnRoute::MacIp(r) => match r.ip {
                Some(ip) => format!("[2]:[{}]:[{}]:[{}]:[{}]", r.rd, r.ethernet_tag, r.mac, ip),
                None => format!("[2]:[{}]:[{}]:[{}]", r.rd, r.ethernet_tag, r.mac),
            },
            EvpnRoute::InclusiveMulticast(r) => {
                format!("[3]:[{}]:[{}]:[{}]", r.rd, r.ethernet_tag, r.originator)
            }
            EvpnRoute::EthernetSegment(r) => {
                format!("[4]:[{}]:[{}]:[{}]", r.rd, r.esi, r.originator)
            }
            EvpnRoute::IpPrefix(r) => format!(
                "[5]:[{}]:[{}]:[{}/{}]",
                r.rd, r.ethernet_tag, r.prefix, r.prefix_len
            ),
        },
    }
}

fn evpn(e: &EvpnRoute) -> v1::EvpnRoute {
    let mut out = v1::EvpnRoute {
        route_type: u32::from(e.route_type()),
        rd: e.rd().to_string(),
        ..Default::default()
    };
    match e {
        EvpnRoute::EthernetAd(r) => {
            out.esi = r.esi.to_string();
            out.ethernet_tag = r.ethernet_tag;
            out.label1 = r.label.raw();
            out.vni = r.label.vni();
        }
        EvpnRoute::MacIp(r) => {
            out.esi = r.esi.to_string();
            out.ethernet_tag = r.ethernet_tag;
            out.mac = r.mac.to_string();
            out.ip = r.ip.map(|i| i.to_string()).unwrap_or_default();
            out.label1 = r.label1.raw();
            out.vni = r.label1.vni();
            if let Some(l2) = r.label2 {
                out.label2 = l2.raw();
                out.has_label2 = true;
            }
        }
        EvpnRoute::InclusiveMulticast(r) => {
            out.ethernet_tag = r.ethernet_tag;
            out.originator_ip = r.originator.to_string();
        }
        EvpnRoute::EthernetSegment(r) => {
            out.esi = r.esi.to_string();
            out.originator_ip = r.originator.to_string();
        }
        EvpnRoute::IpPrefix(r) => {
            out.esi = r.esi.to_string();
            out.ethernet_tag = r.ethernet_tag;
            out.prefix = format!("{}/{}", r.prefix, r.prefix_len);
            out.gateway_ip = r.gateway.to_string();
            out.label1 = r.label.raw();
            out.vni = r.label.vni();
        }
    }
    out
}

/// An extended community as short text ("rt 65000:100", "encap vxlan", ...).
pub fn ext_community_text(c: &ExtendedCommunity) -> String {
    match c.kind() {
        ExtCommunityKind::RouteTarget(rt) => format!("rt {rt}"),
        ExtCommunityKind::Encapsulation { tunnel_type } => match tunnel_type {
            8 => "encap vxlan".into(),
            9 => "encap nvgre".into(),
            10 => "encap mpls".into(),
            t => format!("encap {t}"),
        },
        ExtCommunityKind::MacMobility { sequence, sticky } => {
            format!(
                "mac-mobility seq {sequence}{}",
                if sticky { " sticky" } else { "" }
            )
        }
        ExtCommunityKind::EsiLabel {
            single_active,
            label,
        } => format!(
            "esi-label {} {}",
            label.raw(),
            if single_active {
                "single-active"
            } else {
                "all-active"
            }
        ),
        ExtCommunityKind::EsImportRouteTarget(m) => format!("es-import {m}"),
        ExtCommunityKind::RouterMac(m) => format!("router-mac {m}"),
        ExtCommunityKind::Layer2Attributes {
            control_flags,
            l2_mtu,
        } => format!("l2-attributes flags {control_flags:#06x} mtu {l2_mtu}"),
        ExtCommunityKind::DfElection { algorithm, bitmap } => {
            format!("df-election alg {algorithm} bitmap {bitmap:#06x}")
        }
        ExtCommunityKind::ArpNd {
            router,
            override_flag,
            proxy,
            immutable,
        } => {
            let mut f = Vec::new();
            for (on, n) in [
                (router, "router"),
                (override_flag, "override"),
                (proxy, "proxy"),
                (immutable, "immutable"),
            ] {
                if on {
                    f.push(n);
                }
            }
            format!("arp-nd {}", f.join(","))
        }
        ExtCommunityKind::DefaultGateway => "default-gateway".into(),
        ExtCommunityKind::Unknown(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("0x{hex}")
        }
    }
}

fn path(core: &Core, p: &Path, best: bool) -> v1::Path {
    let a = &p.attrs;
    let as_path: Vec<u32> = a
        .as_path
        .segments
        .iter()
        .flat_map(|s| s.asns.iter().copied())
        .collect();
    v1::Path {
        best,
        source: match p.source {
            RouteSource::Local => "local".into(),
            RouteSource::Peer(id) => core
                .peers
                .get(id.0 as usize)
                .map(|s| s.neighbor.peer.address.to_string())
                .unwrap_or_else(|| format!("peer {}", id.0)),
        },
        next_hop: match &a.next_hop {
            NextHop::Opaque(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
            nh => nh.ip().map(|i| i.to_string()).unwrap_or_default(),
        },
        as_path_text: as_path
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        as_path,
        origin: format!("{:?}", a.origin).to_lowercase(),
        local_pref: a.local_pref.unwrap_or(core.rib.config().default_local_pref),
        has_med: a.med.is_some(),
        med: a.med.unwrap_or(0),
        extended_communities: a.ext_communities.iter().map(ext_community_text).collect(),
        originator_id: a.originator_id.map(|i| i.to_string()).unwrap_or_default(),
        cluster_list: a.cluster_list.iter().map(|i| i.to_string()).collect(),
        stale: p.stale,
        path_id: p.path_id.unwrap_or(0),
        pmsi_tunnel: a
            .pmsi_tunnel
            .as_ref()
            .map(|t| match &t.tunnel {
                evpnd_wire::PmsiTunnelId::IngressReplication(ip) => {
                    format!("ingress-replication {ip} label {}", t.label.vni())
                }
                evpnd_wire::PmsiTunnelId::Other { tunnel_type, .. } => {
                    format!("type {tunnel_type}")
                }
            })
            .unwrap_or_default(),
    }
}
