//! The node's answers rendered as protobuf messages (and so for `evpnctl show …`).

use crate::control::VnisAnswer;
use evpnd_api::v1;
use evpnd_dataplane::MemoryDataplane;
use evpnd_evpn::{
    DuplicateState, ImportTarget, MacEntry, NeighborEntry, VniSummary, VrfRoute, VrfRouteOrigin,
    VrfRoutePath, VrfSummary,
};
use evpnd_node::{NeighborView, NotificationView, PathSource, PathView, RouteView};
use evpnd_wire::community::ExtCommunityKind;
use evpnd_wire::{EvpnRoute, ExtendedCommunity, NextHop, Route, Vni};
use std::net::IpAddr;
use std::time::Instant;

/// `ListRoutes`.
pub fn routes(routes: &[RouteView]) -> v1::ListRoutesResponse {
    v1::ListRoutesResponse {
        routes: routes
            .iter()
            .map(|r| v1::RibEntry {
                family: r.family.name(),
                prefix: route_text(&r.route),
                evpn: match &r.route {
                    Route::Evpn(e) => Some(evpn(e)),
                    _ => None,
                },
                paths: r.paths.iter().map(path).collect(),
            })
            .collect(),
        ..Default::default()
    }
}

fn notification(n: &NotificationView) -> v1::Notification {
    let (c, s) = n.notification.describe();
    v1::Notification {
        code: u32::from(n.notification.code),
        subcode: u32::from(n.notification.subcode),
        code_name: c.into(),
        subcode_name: s.into(),
        data: n.notification.data.clone(),
        age_seconds: n.age.as_secs(),
    }
}

/// The state name `show neighbors` prints (RFC 4271 §8.2.2 spelling).
fn state_name(s: evpnd_bgp::session::State) -> &'static str {
    use evpnd_bgp::session::State;
    match s {
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
    }
}

/// `ListNeighbors`, one page (the caller sets the token).
pub fn neighbors(list: &[NeighborView]) -> v1::ListNeighborsResponse {
    v1::ListNeighborsResponse {
        neighbors: list
            .iter()
            .map(|n| v1::Neighbor {
                address: n.address.to_string(),
                remote_asn: n.remote_asn,
                local_asn: n.local_asn,
                state: state_name(n.state).into(),
                uptime_seconds: n.uptime.map_or(0, |u| u.as_secs()),
                peer_router_id: n.peer_router_id.map(|i| i.to_string()).unwrap_or_default(),
                families: n.families.iter().map(|f| f.name()).collect(),
                counters: n
                    .counters
                    .iter()
                    .map(|c| v1::FamilyCounters {
                        family: c.family.name(),
                        received: c.received,
                        accepted: c.accepted,
                        advertised: c.advertised,
                    })
                    .collect(),
                last_notification_sent: n.last_notification_sent.as_ref().map(notification),
                last_notification_received: n.last_notification_received.as_ref().map(notification),
                hold_time: u32::from(n.hold_time),
                route_reflector_client: n.route_reflector_client,
                passive: n.passive,
                established_count: n.established_count,
                last_error: n.last_error.clone().unwrap_or_default(),
                peer_group: n.group.clone().unwrap_or_default(),
            })
            .collect(),
        next_page_token: String::new(),
    }
}

/// `ListPeerGroups`.
pub fn peer_groups(
    groups: &[evpnd_node::PeerGroupView],
    refused_out_of_range: u64,
) -> v1::ListPeerGroupsResponse {
    v1::ListPeerGroupsResponse {
        peer_groups: groups
            .iter()
            .map(|g| v1::PeerGroup {
                name: g.name.clone(),
                listen_ranges: g.listen_ranges.iter().map(|r| r.to_string()).collect(),
                remote_asn: g.remote_asn.to_string(),
                limit: g.limit,
                active: g.active,
                established: g.established,
                accepted: g.accepted,
                refused_limit: g.refused_limit,
            })
            .collect(),
        refused_out_of_range,
    }
}

/// Import rules as the API shows them: the route target, or `*:VNI`.
pub(crate) fn import_text(i: &ImportTarget) -> String {
    match i {
        ImportTarget::Exact(rt) => rt.to_string(),
        ImportTarget::AnyAs(vni) => format!("*:{vni}"),
    }
}

fn duplicate(d: &DuplicateState, now: Instant) -> v1::DuplicateState {
    match d {
        DuplicateState::Normal => v1::DuplicateState::default(),
        DuplicateState::Frozen { until: None } => v1::DuplicateState {
            frozen: true,
            permanent: true,
            seconds_left: 0,
        },
        DuplicateState::Frozen { until: Some(u) } => v1::DuplicateState {
            frozen: true,
            permanent: false,
            // Rounded up: a freeze with 0.4 s left still shows as 1 s.
            seconds_left: u.saturating_duration_since(now).as_secs_f64().ceil() as u64,
        },
    }
}

/// One EVI as `ListVnis` and `CreateVni` show it, with the data plane's last word on its
/// devices (`None`: nothing reported).
pub fn vni(s: &VniSummary, link: Option<&(bool, Option<String>)>) -> v1::Vni {
    v1::Vni {
        vni: s.evi.vni.get(),
        rd: s.evi.rd.to_string(),
        import_route_targets: s.evi.import.iter().map(import_text).collect(),
        export_route_targets: s.evi.export.iter().map(|rt| rt.to_string()).collect(),
        local_macs: s.local_macs as u64,
        remote_macs: s.remote_macs as u64,
        flood_vteps: s.flood_vteps as u64,
        neighbors: s.neighbors as u64,
        duplicates: s.duplicates as u64,
        dataplane_state: match link {
            None => String::new(),
            Some((true, _)) => "up".into(),
            Some((false, why)) => format!("down: {}", why.as_deref().unwrap_or("")),
        },
        ports: s.ports.iter().map(|p| p.to_string()).collect(),
    }
}

/// One tenant VRF as `ListVrfs` and `AddVrf` show it.
pub fn vrf(s: &VrfSummary) -> v1::Vrf {
    let v = &s.vrf;
    v1::Vrf {
        name: v.name.to_string(),
        l3vni: v.l3vni.map_or(0, |n| n.get()),
        rd: v.rd.to_string(),
        import_route_targets: v.import.iter().map(import_text).collect(),
        export_route_targets: v.export.iter().map(|rt| rt.to_string()).collect(),
        router_mac: v.router_mac.to_string(),
        advertise_connected: v.advertise_connected,
        advertise: v.advertise.iter().map(|p| p.to_string()).collect(),
        routes: v
            .routes
            .iter()
            .map(|r| v1::VrfStaticRoute {
                prefix: r.prefix.to_string(),
                via: r.via.to_string(),
            })
            .collect(),
        vnis: s.vnis.iter().map(|n| n.get()).collect(),
        host_routes: s.host_routes as u64,
        prefix_routes: s.prefix_routes as u64,
        local_routes: s.local_routes as u64,
        remote_vteps: s.remote_vteps as u64,
    }
}

/// The name of a VRF route's origin in the API ("connected", "static", "host-route",
/// "ip-prefix").
pub fn vrf_route_origin(o: VrfRouteOrigin) -> &'static str {
    match o {
        VrfRouteOrigin::Connected => "connected",
        VrfRouteOrigin::Static => "static",
        VrfRouteOrigin::HostRoute => "host-route",
        VrfRouteOrigin::IpPrefix => "ip-prefix",
    }
}

/// One route of a VRF table as `ListIpRoutes` shows it.
pub fn ip_route(r: &VrfRoute) -> v1::IpRoute {
    v1::IpRoute {
        vrf: r.vrf.to_string(),
        prefix: r.prefix.to_string(),
        origin: vrf_route_origin(r.origin).to_string(),
        paths: r.paths.iter().map(ip_route_path).collect(),
    }
}

/// One path of a VRF route.
pub fn ip_route_path(p: &VrfRoutePath) -> v1::IpRoutePath {
    match p {
        VrfRoutePath::Interface { vni } => v1::IpRoutePath {
            vni: vni.get(),
            ..Default::default()
        },
        VrfRoutePath::Remote { vtep, router_mac } => v1::IpRoutePath {
            vtep: vtep.to_string(),
            router_mac: router_mac.to_string(),
            ..Default::default()
        },
        VrfRoutePath::Gateway { via } => v1::IpRoutePath {
            via: via.to_string(),
            ..Default::default()
        },
    }
}

/// `ListEndpoints`: each local endpoint with its origins ("api", "config", "kernel").
pub fn endpoints(rows: &[crate::control::EndpointRow]) -> Vec<v1::Endpoint> {
    rows.iter()
        .map(|(e, configured)| {
            let mut origins = Vec::new();
            if e.attached {
                origins.push(if *configured { "config" } else { "api" }.to_string());
            }
            if e.learned {
                origins.push("kernel".to_string());
            }
            v1::Endpoint {
                vni: e.entry.vni.get(),
                mac: e.entry.mac.to_string(),
                ips: e.entry.ips.iter().map(IpAddr::to_string).collect(),
                sticky: e.entry.sticky,
                interface: e.port.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                origins,
            }
        })
        .collect()
}

/// `ListVnis`.
pub fn vnis(a: &VnisAnswer) -> v1::ListVnisResponse {
    let c = &a.status.counters;
    v1::ListVnisResponse {
        vnis: a
            .vnis
            .iter()
            .map(|s| vni(s, a.links.get(&s.evi.vni)))
            .collect(),
        next_page_token: a.next.map(|v| v.get().to_string()).unwrap_or_default(),
        status: Some(v1::EngineStatus {
            vtep: a.status.vtep.to_string(),
            dataplane: a.dataplane.into(),
            learned: c.learned,
            moved: c.moved,
            removed: c.removed,
            duplicate: c.duplicate,
            unfrozen: c.unfrozen,
            sticky_conflict: c.sticky_conflict,
            routes_originated: c.routes_originated,
            routes_withdrawn: c.routes_withdrawn,
            intents: c.intents,
            dataplane_failures: a.dataplane_stats.failures,
            dataplane_pending_retries: a.dataplane_stats.pending_retries,
            dataplane_resyncs: a.dataplane_stats.resyncs,
            dataplane_entries_written: a.dataplane_stats.entries_written,
            dataplane_write_micros: a.dataplane_stats.write_micros,
        }),
    }
}

/// `ListMacs`.
pub fn macs(list: &[MacEntry]) -> v1::ListMacsResponse {
    let now = Instant::now();
    v1::ListMacsResponse {
        macs: list
            .iter()
            .map(|m| v1::MacEntry {
                vni: m.vni.get(),
                mac: m.mac.to_string(),
                location: m.origin.to_string(),
                sequence: m.sequence,
                sticky: m.sticky,
                ips: m.ips.iter().map(IpAddr::to_string).collect(),
                moves: m.moves,
                duplicate: Some(duplicate(&m.duplicate, now)),
                sticky_conflict: m.sticky_conflict,
                age_seconds: now.saturating_duration_since(m.since).as_secs(),
            })
            .collect(),
        ..Default::default()
    }
}

/// `ListFlood`.
pub fn flood(lists: &[(Vni, Vec<IpAddr>)]) -> v1::ListFloodResponse {
    v1::ListFloodResponse {
        lists: lists
            .iter()
            .map(|(vni, vteps)| v1::FloodList {
                vni: vni.get(),
                vteps: vteps.iter().map(IpAddr::to_string).collect(),
            })
            .collect(),
        ..Default::default()
    }
}

/// `ListArp`.
pub fn arp(list: &[NeighborEntry]) -> v1::ListArpResponse {
    let now = Instant::now();
    v1::ListArpResponse {
        neighbors: list
            .iter()
            .map(|n| v1::NeighborEntry {
                vni: n.vni.get(),
                ip: n.ip.to_string(),
                mac: n.mac.to_string(),
                location: n.origin.to_string(),
                router: n.router,
                immutable: n.immutable,
                duplicate: Some(duplicate(&n.duplicate, now)),
            })
            .collect(),
        ..Default::default()
    }
}

/// `ListDataplane`.
pub fn dataplane(m: &MemoryDataplane) -> v1::ListDataplaneResponse {
    v1::ListDataplaneResponse {
        kind: "memory".into(),
        macs: m
            .fdb
            .iter()
            .map(|((vni, mac), e)| v1::DataplaneMac {
                vni: vni.get(),
                mac: mac.to_string(),
                vtep: e.vtep.to_string(),
                sticky: e.sticky,
            })
            .collect(),
        flood: m
            .flood
            .iter()
            .map(|(vni, vteps)| v1::FloodList {
                vni: vni.get(),
                vteps: vteps.iter().map(IpAddr::to_string).collect(),
            })
            .collect(),
        neighbors: m
            .neigh
            .iter()
            .map(|((vni, ip), n)| v1::DataplaneNeighbor {
                vni: vni.get(),
                ip: ip.to_string(),
                mac: n.mac.to_string(),
                router: n.router,
                local: n.local,
            })
            .collect(),
        applied: m.applied,
        errors: m.errors,
        vrfs: m
            .vrfs
            .iter()
            .map(|(name, v)| v1::DataplaneVrf {
                vrf: name.to_string(),
                l3vni: v.l3vni.map_or(0, |n| n.get()),
                router_mac: v.router_mac.to_string(),
                vnis: m
                    .vni_vrf
                    .iter()
                    .filter(|(_, x)| *x == name)
                    .map(|(vni, _)| vni.get())
                    .collect(),
            })
            .collect(),
        gateways: m
            .gateways
            .iter()
            .map(|((vni, address), g)| v1::DataplaneGateway {
                vni: vni.get(),
                address: address.to_string(),
                prefix_len: u32::from(g.prefix_len),
                mac: g.mac.to_string(),
            })
            .collect(),
        router_macs: m
            .router_macs
            .iter()
            .map(|((vrf, vtep), mac)| v1::DataplaneRouterMac {
                vrf: vrf.to_string(),
                vtep: vtep.to_string(),
                mac: mac.to_string(),
            })
            .collect(),
        routes: m
            .routes
            .iter()
            .map(|((vrf, prefix), paths)| {
                let mut r = v1::DataplaneRoute {
                    vrf: vrf.to_string(),
                    prefix: prefix.to_string(),
                    ..Default::default()
                };
                for p in paths {
                    match p {
                        evpnd_dataplane::RoutePath::Remote(vtep) => r.vteps.push(vtep.to_string()),
                        evpnd_dataplane::RoutePath::Gateway(via) => r.vias.push(via.to_string()),
                    }
                }
                r
            })
            .collect(),
    }
}

/// The route as one line of text, in the bracketed form FRR prints for EVPN.
fn route_text(route: &Route) -> String {
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
                    _ => rt.to_string(),
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

fn path(p: &PathView) -> v1::Path {
    let a = &p.path.attrs;
    let as_path: Vec<u32> = a
        .as_path
        .segments
        .iter()
        .flat_map(|s| s.asns.iter().copied())
        .collect();
    v1::Path {
        best: p.best,
        source: match p.source {
            PathSource::Local => "local".into(),
            PathSource::Peer(addr) => addr.to_string(),
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
        local_pref: p.local_pref,
        has_med: a.med.is_some(),
        med: a.med.unwrap_or(0),
        extended_communities: a.ext_communities.iter().map(|c| c.to_string()).collect(),
        originator_id: a.originator_id.map(|i| i.to_string()).unwrap_or_default(),
        cluster_list: a.cluster_list.iter().map(|i| i.to_string()).collect(),
        stale: p.path.stale,
        path_id: p.path.path_id.unwrap_or(0),
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
