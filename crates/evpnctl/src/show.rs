//! `evpnctl show ...`: queries a running evpnd over its gRPC API and prints human tables or
//! JSON (`--json`, one document, stable field names as in `crates/api/proto/evpnd.proto`).

use clap::{Args, Subcommand};
use evpnd_api::v1;
use evpnd_api::v1::evpnd_client::EvpndClient;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// What to show.
#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// BGP neighbours: state, uptime, families, route counters, last NOTIFICATION; dynamic
    /// ones are marked with their peer group.
    Neighbors(NeighborsArgs),
    /// Peer groups: listen ranges, remote AS, limit, and their dynamic neighbours' counters.
    PeerGroups(JsonFlag),
    /// The BGP RIB (EVPN and other families): every route with all its paths, best first.
    Routes(RoutesArgs),
    /// EVPN: the EVIs (VNI, RD, route targets, table sizes) and the engine's event counters.
    Vnis(crate::evpn::VnisArgs),
    /// EVPN: the MAC table (location, mobility sequence, sticky, duplicate state).
    Macs(crate::evpn::VniArgs),
    /// EVPN: the ingress-replication flood list of each VNI.
    Flood(crate::evpn::VniArgs),
    /// EVPN: the proxy ARP/ND table (IP to MAC bindings).
    Arp(crate::evpn::VniArgs),
    /// EVPN: the memory data plane's FDB, flood lists and neighbours.
    Dataplane(JsonFlag),
    /// EVPN: the local endpoints and why each is there (api, config, kernel).
    Endpoints(crate::evpn::VniArgs),
    /// EVPN: the MACs and IPs frozen as duplicates (RFC 7432 §15.1), with the time left.
    Duplicates(crate::evpn::VniArgs),
    /// Layer 3: the tenant VRFs (L3VNI, RD, route targets, router MAC, VNIs, table sizes).
    Vrfs(crate::vrf::VrfsArgs),
    /// Layer 3: what evpnd installed in the VRF tables (prefix, origin, paths).
    IpRoutes(crate::vrf::IpRoutesArgs),
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `--json` and `--page-size` of `show neighbors`.
#[derive(Debug, Args)]
pub struct NeighborsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Neighbours fetched per request (the daemon serves at most 10000).
    #[arg(long, default_value_t = 1000)]
    pub page_size: u32,
}

/// Filters of `show routes`.
#[derive(Debug, Args)]
pub struct RoutesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this family (l2vpn-evpn, ipv4-rtc, ipv4-unicast, ipv6-unicast).
    #[arg(long)]
    pub family: Option<String>,
    /// Only EVPN routes of this type (1-5).
    #[arg(long = "type", value_name = "N")]
    pub route_type: Option<u32>,
    /// Only EVPN routes with this VNI (label 1).
    #[arg(long)]
    pub vni: Option<u32>,
    /// Only routes with this route distinguisher.
    #[arg(long)]
    pub rd: Option<String>,
    /// Only EVPN routes with this MAC.
    #[arg(long)]
    pub mac: Option<String>,
    /// Only routes carrying this route target (e.g. 65000:100).
    #[arg(long)]
    pub rt: Option<String>,
    /// Only type-2 routes of this IP and type-5 routes whose prefix holds it.
    #[arg(long)]
    pub ip: Option<String>,
    /// Only routes with a path from this neighbour ("local": originated here).
    #[arg(long)]
    pub peer: Option<String>,
    /// Only the EVPN routes of this tenant VRF (type-2 with an L3VNI, type-5) that it imports.
    #[arg(long)]
    pub vrf: Option<String>,
    /// Only the best path of each route.
    #[arg(long)]
    pub best: bool,
    /// Routes fetched per request (the daemon serves at most 10000).
    #[arg(long, default_value_t = 1000)]
    pub page_size: u32,
}

/// The largest answer evpnctl accepts (one page; the daemon serves at most 10000 entries).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// The `Evpnd` service over `channel`.
pub(crate) fn client(channel: Channel) -> EvpndClient<Channel> {
    // A page of routes with many paths each may pass gRPC's default 4 MiB limit.
    EvpndClient::new(channel).max_decoding_message_size(MAX_MESSAGE)
}

/// A channel to the daemon's API at `api` (`unix:PATH` or `HOST:PORT`), for any service.
pub(crate) async fn channel(api: &str) -> Result<Channel, String> {
    let timeout = Duration::from_secs(5);
    let channel = if let Some(path) = api.strip_prefix("unix:") {
        let path = path.to_string();
        // The URI is required by the API but unused: the connector dials the socket.
        Endpoint::from_static("http://[::1]:50051")
            .connect_timeout(timeout)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await
    } else {
        Endpoint::from_shared(format!("http://{api}"))
            .map_err(|e| format!("--api {api}: {e}"))?
            .connect_timeout(timeout)
            .connect()
            .await
    };
    channel.map_err(|e| format!("cannot reach evpnd at {api}: {e}"))
}

/// Asks the daemon at `api` to send ROUTE-REFRESH to `neighbor` (RFC 2918): the neighbour
/// re-sends its routes, e.g. after an import policy change.
pub fn refresh(api: &str, neighbor: &str, family: Option<String>) -> ExitCode {
    let neighbor = neighbor.to_string();
    crate::client::print(api, |mut client| async move {
        let r = client
            .refresh_neighbor(v1::RefreshNeighborRequest {
                address: neighbor.clone(),
                family: family.unwrap_or_default(),
            })
            .await?
            .into_inner();
        Ok(format!(
            "route refresh requested from {neighbor} for {}",
            r.families.join(", ")
        ))
    })
}

/// Runs a `show` command against `api`.
pub fn run(api: &str, cmd: ShowCommand) -> ExitCode {
    match cmd {
        ShowCommand::Vnis(a) => crate::evpn::show_vnis(api, a),
        ShowCommand::Macs(a) => crate::evpn::show_macs(api, a),
        ShowCommand::Flood(a) => crate::evpn::show_flood(api, a),
        ShowCommand::Arp(a) => crate::evpn::show_arp(api, a),
        ShowCommand::Duplicates(a) => crate::duplicates::show(api, a),
        ShowCommand::Endpoints(a) => crate::evpn::show_endpoints(api, a),
        ShowCommand::Dataplane(f) => crate::evpn::show_dataplane(api, f.json),
        ShowCommand::Neighbors(a) => show_neighbors(api, a),
        ShowCommand::PeerGroups(f) => show_peer_groups(api, f.json),
        ShowCommand::Routes(a) => show_routes(api, a),
        ShowCommand::Vrfs(a) => crate::vrf::show_vrfs(api, a),
        ShowCommand::IpRoutes(a) => crate::vrf::show_ip_routes(api, a),
    }
}

/// `show neighbors`: page after page, printed as they arrive.
fn show_neighbors(api: &str, a: NeighborsArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let json = a.json;
        crate::client::print_pages(json, &NEIGHBOR_HEADER, "neighbor", |page_token| {
            let req = v1::ListNeighborsRequest {
                page_size: a.page_size,
                page_token,
            };
            let mut c = client.clone();
            async move {
                let r = c.list_neighbors(req).await?.into_inner();
                Ok(crate::client::PageOut {
                    json: if json {
                        r.neighbors.iter().map(neighbor_json).collect()
                    } else {
                        Vec::new()
                    },
                    rows: if json {
                        Vec::new()
                    } else {
                        r.neighbors.iter().map(neighbor_row).collect()
                    },
                    entries: r.neighbors.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

/// The columns of `show peer-groups`.
const PEER_GROUP_HEADER: [&str; 8] = [
    "PEER GROUP",
    "LISTEN RANGES",
    "REMOTE AS",
    "LIMIT",
    "ACTIVE",
    "ESTABLISHED",
    "ACCEPTED",
    "REFUSED (LIMIT)",
];

/// `show peer-groups`: one table (or JSON document) of every peer group's counters.
fn show_peer_groups(api: &str, json: bool) -> ExitCode {
    crate::client::print(api, |mut client| async move {
        let r = client
            .list_peer_groups(v1::ListPeerGroupsRequest {})
            .await?
            .into_inner();
        if json {
            let groups: Vec<Value> = r
                .peer_groups
                .iter()
                .map(|g| {
                    json!({
                        "name": g.name, "listen_ranges": g.listen_ranges,
                        "remote_asn": g.remote_asn, "limit": g.limit, "active": g.active,
                        "established": g.established, "accepted": g.accepted,
                        "refused_limit": g.refused_limit,
                    })
                })
                .collect();
            let doc = json!({
                "peer_groups": groups,
                "refused_out_of_range": r.refused_out_of_range,
            });
            return Ok(serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        let rows: Vec<Vec<String>> = r
            .peer_groups
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.listen_ranges.join(","),
                    g.remote_asn.clone(),
                    g.limit.to_string(),
                    g.active.to_string(),
                    g.established.to_string(),
                    g.accepted.to_string(),
                    g.refused_limit.to_string(),
                ]
            })
            .collect();
        Ok(format!(
            "{}\nrefused from outside every listen range: {}",
            table(&PEER_GROUP_HEADER, &rows),
            r.refused_out_of_range
        ))
    })
}

/// `show routes`: page after page, printed as they arrive.
fn show_routes(api: &str, a: RoutesArgs) -> ExitCode {
    crate::client::run(api, |client| async move {
        let base = v1::ListRoutesRequest {
            family: a.family.unwrap_or_default(),
            route_type: a.route_type.unwrap_or(0),
            vni: a.vni.unwrap_or(0),
            rd: a.rd.unwrap_or_default(),
            mac: a.mac.unwrap_or_default(),
            rt: a.rt.unwrap_or_default(),
            ip: a.ip.unwrap_or_default(),
            peer: a.peer.unwrap_or_default(),
            best_only: a.best,
            page_size: a.page_size,
            page_token: String::new(),
            vrf: a.vrf.unwrap_or_default(),
        };
        let json = a.json;
        crate::client::print_pages(json, &ROUTE_HEADER, "route", |page_token| {
            let req = v1::ListRoutesRequest {
                page_token,
                ..base.clone()
            };
            let mut c = client.clone();
            async move {
                let r = c.list_routes(req).await?.into_inner();
                Ok(crate::client::PageOut {
                    json: if json { routes_json(&r) } else { Vec::new() },
                    rows: if json { Vec::new() } else { route_rows(&r) },
                    entries: r.routes.len(),
                    next_page_token: r.next_page_token,
                })
            }
        })
        .await
    })
}

fn notification_json(n: &Option<v1::Notification>) -> Value {
    match n {
        None => Value::Null,
        Some(n) => json!({
            "code": n.code, "subcode": n.subcode, "code_name": n.code_name,
            "subcode_name": n.subcode_name, "data": hex::encode(&n.data), "age_seconds": n.age_seconds,
        }),
    }
}

/// One neighbour as `show neighbors --json` prints it.
fn neighbor_json(n: &v1::Neighbor) -> Value {
    json!({
        "address": n.address, "remote_asn": n.remote_asn, "local_asn": n.local_asn,
        "state": n.state, "uptime_seconds": n.uptime_seconds,
        "peer_router_id": n.peer_router_id, "families": n.families,
        "hold_time": n.hold_time, "route_reflector_client": n.route_reflector_client,
        "passive": n.passive, "established_count": n.established_count,
        "last_error": n.last_error,
        "peer_group": if n.peer_group.is_empty() { Value::Null } else { json!(n.peer_group) },
        "counters": n.counters.iter().map(|c| json!({
            "family": c.family, "received": c.received, "accepted": c.accepted,
            "advertised": c.advertised,
        })).collect::<Vec<_>>(),
        "last_notification_sent": notification_json(&n.last_notification_sent),
        "last_notification_received": notification_json(&n.last_notification_received),
    })
}

fn uptime(s: u64) -> String {
    if s == 0 {
        return "-".into();
    }
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Formats rows as aligned columns.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

/// The columns of `show neighbors`.
const NEIGHBOR_HEADER: [&str; 7] = [
    "NEIGHBOR",
    "AS",
    "STATE",
    "UP",
    "FAMILIES",
    "RCVD/ACCEPTED/ADVERTISED",
    "LAST NOTIFICATION",
];

/// One neighbour as a row of `show neighbors`.
fn neighbor_row(n: &v1::Neighbor) -> Vec<String> {
    let counts = n
        .counters
        .iter()
        .map(|c| {
            format!(
                "{}:{}/{}/{}",
                c.family, c.received, c.accepted, c.advertised
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let last = n
        .last_notification_received
        .as_ref()
        .map(|x| format!("rcvd {}/{} {}", x.code, x.subcode, x.subcode_name))
        .or_else(|| {
            n.last_notification_sent
                .as_ref()
                .map(|x| format!("sent {}/{} {}", x.code, x.subcode, x.subcode_name))
        })
        .unwrap_or_default();
    let address = if n.peer_group.is_empty() {
        n.address.clone()
    } else {
        format!("{} (dynamic: {})", n.address, n.peer_group)
    };
    vec![
        address,
        n.remote_asn.to_string(),
        n.state.clone(),
        uptime(n.uptime_seconds),
        n.families.join(","),
        counts,
        last,
    ]
}

fn evpn_json(e: &v1::EvpnRoute) -> Value {
    json!({
        "route_type": e.route_type, "rd": e.rd, "esi": e.esi, "ethernet_tag": e.ethernet_tag,
        "mac": e.mac, "ip": e.ip, "label1": e.label1, "vni": e.vni,
        "label2": if e.has_label2 { json!(e.label2) } else { Value::Null },
        "originator_ip": e.originator_ip, "prefix": e.prefix, "gateway_ip": e.gateway_ip,
    })
}

pub(crate) fn routes_json(r: &v1::ListRoutesResponse) -> Vec<Value> {
    r.routes
        .iter()
        .map(|e| {
            json!({
                "family": e.family,
                "prefix": e.prefix,
                "evpn": e.evpn.as_ref().map(evpn_json),
                "paths": e.paths.iter().map(|p| json!({
                    "best": p.best, "source": p.source, "next_hop": p.next_hop,
                    "as_path": p.as_path, "origin": p.origin, "local_pref": p.local_pref,
                    "med": if p.has_med { json!(p.med) } else { Value::Null },
                    "extended_communities": p.extended_communities,
                    "originator_id": p.originator_id, "cluster_list": p.cluster_list,
                    "stale": p.stale, "path_id": p.path_id, "pmsi_tunnel": p.pmsi_tunnel,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The columns of `show routes`.
const ROUTE_HEADER: [&str; 6] = [
    "",
    "ROUTE",
    "NEXT HOP",
    "FROM",
    "AS PATH",
    "EXTENDED COMMUNITIES",
];

fn route_rows(r: &v1::ListRoutesResponse) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for e in &r.routes {
        for p in &e.paths {
            rows.push(vec![
                if p.best { "*>".into() } else { "* ".into() },
                e.prefix.clone(),
                p.next_hop.clone(),
                p.source.clone(),
                if p.as_path_text.is_empty() {
                    "-".into()
                } else {
                    p.as_path_text.clone()
                },
                p.extended_communities.join(", "),
            ]);
        }
    }
    rows
}
