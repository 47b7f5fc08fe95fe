//! `Explain`: the request parsed, the facts asked of the driver, the kernel read on a
//! blocking thread, the walk rendered as protobuf.

use super::{parse_ip, parse_mac, status, Service};
use crate::control::Request;
use crate::explain::{self, Facts, NodeChain, Subject, Walk};
use evpnd_api::v1;
use evpnd_evpn::{ClaimView, DuplicateState, Location};
use evpnd_node::{ExplainedRoute, PathSource};
use evpnd_wire::{Esi, EvpnRoute, ExtCommunityKind, Route};
use tonic::Status;

/// Serves one `Explain` call.
pub(super) async fn explain(
    service: &Service,
    r: v1::ExplainRequest,
) -> Result<v1::ExplainResponse, Status> {
    if !r.vrf.is_empty() {
        return routed(service, r).await;
    }
    let subject = match (r.mac.is_empty(), r.ip.is_empty()) {
        (false, true) => Subject::Mac(parse_mac("mac", &r.mac)?),
        (true, false) => match parse_ip("ip", &r.ip)? {
            Some(ip) => Subject::Ip(ip),
            None => return Err(Status::invalid_argument("ip: required")),
        },
        _ => {
            return Err(Status::invalid_argument(
                "mac: give exactly one of mac and ip",
            ))
        }
    };
    let vni = r.vni;
    let facts = service
        .ask(|tx| Request::Explain(vni, subject, tx))
        .await?
        .map_err(status)?;
    let kind = facts.dataplane;
    let kernel = tokio::task::spawn_blocking(move || explain::kernel(kind, vni, subject))
        .await
        .map_err(|e| Status::internal(format!("reading the kernel failed: {e}")))?;
    let walk = explain::walk(&facts, &kernel);
    Ok(render(&facts, &walk))
}

/// `explain ip IP --vrf NAME`: the route of the VRF the IP matches, one link ("vrf-route")
/// that holds when a path is installed.
async fn routed(service: &Service, r: v1::ExplainRequest) -> Result<v1::ExplainResponse, Status> {
    if r.vni != 0 || !r.mac.is_empty() {
        return Err(Status::invalid_argument(
            "vrf: explains the routed path of an ip: give neither vni nor mac",
        ));
    }
    let Some(ip) = parse_ip("ip", &r.ip)? else {
        return Err(Status::invalid_argument("ip: required"));
    };
    let vrf = r.vrf.clone();
    let found = service
        .manage(|tx| crate::control::ManageRequest::ExplainRoute(vrf, ip, tx))
        .await?
        .map_err(status)?;
    let (ok, detail) = match &found {
        None => (false, format!("no route of VRF {} holds {ip}", r.vrf)),
        Some(x) if x.installed.is_none() => (
            false,
            format!(
                "{} has no installed path (an unresolved overlay index?)",
                x.prefix
            ),
        ),
        Some(x) => (
            true,
            format!(
                "{} {}",
                x.prefix,
                x.installed
                    .as_ref()
                    .map(|i| super::render::vrf_route_origin(i.origin))
                    .unwrap_or_default()
            ),
        ),
    };
    Ok(v1::ExplainResponse {
        subject: "ip".into(),
        key: ip.to_string(),
        steps: vec![v1::ExplainStep {
            link: "vrf-route".into(),
            ok,
            detail: detail.clone(),
        }],
        complete: ok,
        broken_link: if ok {
            String::new()
        } else {
            "vrf-route".into()
        },
        message: if ok {
            "complete: every link holds".into()
        } else {
            format!("vrf-route: {detail}")
        },
        vrf_route: found.map(|x| vrf_route(&x)),
        ..Default::default()
    })
}

/// A VRF route explanation as its message.
fn vrf_route(x: &evpnd_evpn::RouteExplanation) -> v1::ExplainVrfRoute {
    use evpnd_evpn::OverlayResolution as O;
    v1::ExplainVrfRoute {
        vrf: x.vrf.to_string(),
        prefix: x.prefix.to_string(),
        installed: x.installed.as_ref().map(super::render::ip_route),
        sources: x
            .contributions
            .iter()
            .map(|c| v1::ExplainVrfSource {
                origin: super::render::vrf_route_origin(c.origin).into(),
                rd: c.rd.map(|rd| rd.to_string()).unwrap_or_default(),
                vtep: c.vtep.map(|v| v.to_string()).unwrap_or_default(),
                sequence: c.sequence.unwrap_or(0),
                path: c.path.as_ref().map(super::render::ip_route_path),
                overlay: match c.overlay {
                    None => String::new(),
                    Some(O::HostRoute {
                        gateway,
                        vtep,
                        router_mac,
                    }) => format!("gateway {gateway}: host route via {vtep} rmac {router_mac}"),
                    Some(O::LocalSubnet { gateway, vni }) => {
                        format!("gateway {gateway}: on the local subnet of VNI {vni}")
                    }
                    Some(O::Unresolved { gateway }) => format!("gateway {gateway}: unresolved"),
                },
                installed: c.installed,
            })
            .collect(),
    }
}

fn location(l: Location) -> String {
    match l {
        Location::Local => "local".into(),
        Location::Remote { vtep } => vtep.to_string(),
    }
}

fn route(r: &ExplainedRoute) -> v1::ExplainRoute {
    let (rd, mac, ip) = match &r.route.route {
        Route::Evpn(EvpnRoute::MacIp(m)) => (
            m.rd.to_string(),
            m.mac.to_string(),
            m.ip.map(|i| i.to_string()).unwrap_or_default(),
        ),
        _ => Default::default(),
    };
    v1::ExplainRoute {
        rd,
        mac,
        ip,
        paths: r
            .route
            .paths
            .iter()
            .map(|p| {
                let (sequence, sticky) = p
                    .path
                    .attrs
                    .ext_communities
                    .iter()
                    .find_map(|c| match c.kind() {
                        ExtCommunityKind::MacMobility { sequence, sticky } => {
                            Some((sequence, sticky))
                        }
                        _ => None,
                    })
                    .unwrap_or((0, false));
                let (esi, label) = match &p.path.route {
                    Route::Evpn(EvpnRoute::MacIp(m)) => (m.esi, m.label1.vni()),
                    _ => (Esi::ZERO, 0),
                };
                v1::ExplainPath {
                    peer: match p.source {
                        PathSource::Local => "local".into(),
                        PathSource::Peer(a) => a.to_string(),
                    },
                    next_hop: p
                        .path
                        .attrs
                        .next_hop
                        .ip()
                        .map(|i| i.to_string())
                        .unwrap_or_default(),
                    sequence,
                    sticky,
                    esi: if esi == Esi::ZERO {
                        String::new()
                    } else {
                        esi.to_string()
                    },
                    label,
                    best: p.best,
                }
            })
            .collect(),
        imported: r.verdict.as_ref().is_some_and(|v| v.is_imported()),
        verdict_code: r.verdict.as_ref().map_or("originated", |v| v.code()).into(),
        verdict: r
            .verdict
            .as_ref()
            .map_or_else(|| "originated here".into(), |v| v.to_string()),
    }
}

fn claim(c: &ClaimView, winner: bool) -> v1::ExplainClaim {
    v1::ExplainClaim {
        location: location(c.location),
        rd: c.rd.map(|r| r.to_string()).unwrap_or_default(),
        mac: c.mac.to_string(),
        ip: c.ip.map(|i| i.to_string()).unwrap_or_default(),
        sequence: c.sequence,
        sticky: c.sticky,
        immutable: c.immutable,
        winner,
    }
}

/// An intent in words.
fn intent_text(i: &evpnd_dataplane::DataplaneIntent) -> String {
    use evpnd_dataplane::DataplaneIntent as I;
    match *i {
        I::RemoteMac {
            mac, vtep, sticky, ..
        } => format!(
            "FDB {mac} → VTEP {vtep}{}",
            if sticky { " (sticky)" } else { "" }
        ),
        I::Neighbor {
            ip,
            mac,
            router,
            local,
            ..
        } => format!(
            "neighbour {ip} → {mac} ({}{})",
            if local { "local" } else { "remote" },
            if router { ", router" } else { "" }
        ),
        other => format!("{other:?}"),
    }
}

fn duplicate(d: DuplicateState) -> String {
    match d {
        DuplicateState::Normal => "normal".into(),
        DuplicateState::Frozen { .. } => "frozen".into(),
    }
}

/// The walk as an `ExplainResponse`.
fn render(facts: &Facts, walk: &Walk) -> v1::ExplainResponse {
    let mut out = v1::ExplainResponse {
        dataplane: facts.dataplane.into(),
        steps: walk
            .steps
            .iter()
            .map(|s| v1::ExplainStep {
                link: s.link.into(),
                ok: s.ok,
                detail: s.detail.clone(),
            })
            .collect(),
        complete: walk.broken().is_none(),
        broken_link: walk
            .broken()
            .map(|s| s.link.to_string())
            .unwrap_or_default(),
        message: walk.broken().map_or_else(
            || "complete: every link holds".to_string(),
            |s| format!("{}: {}", s.link, s.detail),
        ),
        duplicate: "normal".into(),
        decision_code: "no-claim".into(),
        ..Default::default()
    };
    match &facts.chain {
        NodeChain::Mac(x) => {
            out.vni = x.vni.get();
            out.subject = "mac".into();
            out.key = x.mac.to_string();
            out.routes = x.routes.iter().map(route).collect();
            out.intent = x.intent.map(|i| intent_text(&i)).unwrap_or_default();
            if let Some(e) = &x.engine {
                let winner = e.winner;
                out.claims = e
                    .local
                    .iter()
                    .chain(e.remotes.iter())
                    .map(|c| claim(c, Some(c.location) == winner))
                    .collect();
                out.winner = winner.map(location).unwrap_or_default();
                out.decision_code = e.decision.code().into();
                out.decision = e.decision.to_string();
                out.duplicate = duplicate(e.duplicate);
            }
        }
        NodeChain::Ip(x) => {
            out.vni = x.vni.get();
            out.subject = "ip".into();
            out.key = x.ip.to_string();
            out.routes = x.routes.iter().map(route).collect();
            out.intent = x.intent.map(|i| intent_text(&i)).unwrap_or_default();
            if let Some(e) = &x.engine {
                let winner = e.winner;
                out.claims = e
                    .local
                    .iter()
                    .chain(e.remotes.iter())
                    .map(|c| claim(c, Some((c.mac, c.location)) == winner))
                    .collect();
                out.winner = winner.map(|(_, l)| location(l)).unwrap_or_default();
                out.decision_code = e.decision.code().into();
                out.decision = e.decision.to_string();
                out.duplicate = duplicate(e.duplicate);
            }
        }
    }
    out
}
