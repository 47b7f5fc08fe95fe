//! The EVPN part of the gRPC API: tables of the engine and of the memory data plane, and the
//! orchestrator's attach/detach and the operator's duplicate clear. Answers come from the core
//! task; input is checked here (bad input: INVALID_ARGUMENT, unknown VNI: NOT_FOUND, engine
//! off or data plane without tables: FAILED_PRECONDITION) and never panics.

use crate::api::EvpnRequest;
use crate::daemon::Core;
use crate::evpn::{import_text, EvpnNode};
use evpnd_api::v1;
use evpnd_evpn::types::{Attachment, DuplicateState, EngineError, Subject};
use evpnd_wire::MacAddress;
use std::net::IpAddr;
use std::time::Instant;
use tonic::Status;

/// Answers one EVPN request; acting requests (attach, detach, clear) change the engine, and
/// the daemon's next pump sends the resulting routes and intents.
pub fn answer(core: &mut Core, req: EvpnRequest) {
    let now = Instant::now();
    let node = core.evpn.as_mut();
    match req {
        EvpnRequest::Vnis(tx) => {
            let _ = tx.send(engine(node).map(|n| list_vnis(n)));
        }
        EvpnRequest::Macs(r, tx) => {
            let _ = tx.send(engine(node).and_then(|n| list_macs(n, r.vni, now)));
        }
        EvpnRequest::Flood(r, tx) => {
            let _ = tx.send(engine(node).and_then(|n| list_flood(n, r.vni)));
        }
        EvpnRequest::Arp(r, tx) => {
            let _ = tx.send(engine(node).and_then(|n| list_arp(n, r.vni, now)));
        }
        EvpnRequest::Attach(r, tx) => {
            let _ = tx.send(engine(node).and_then(|n| attach(n, &r, now)));
        }
        EvpnRequest::Detach(r, tx) => {
            let _ = tx.send(engine(node).and_then(|n| detach(n, &r, now)));
        }
        EvpnRequest::Clear(r, tx) => {
            let _ = tx.send(engine(node).and_then(|n| clear(n, &r, now)));
        }
        EvpnRequest::Dataplane(tx) => {
            let _ = tx.send(engine(node).and_then(|n| dataplane(n)));
        }
    }
}

fn engine(node: Option<&mut EvpnNode>) -> Result<&mut EvpnNode, Status> {
    node.ok_or_else(|| {
        Status::failed_precondition("the EVPN engine is off: configure [evpn] vtep and [[vni]]")
    })
}

fn engine_status(e: EngineError) -> Status {
    match e {
        EngineError::UnknownVni(_) => Status::not_found(e.to_string()),
        _ => Status::invalid_argument(e.to_string()),
    }
}

/// The VNIs a request covers: every EVI for 0, else the one asked for (which must exist).
fn vnis(node: &EvpnNode, vni: u32) -> Result<Vec<u32>, Status> {
    let all: Vec<u32> = node.engine.evis().map(|e| e.vni).collect();
    if vni == 0 {
        return Ok(all);
    }
    if vni > 0x00ff_ffff {
        return Err(engine_status(EngineError::InvalidVni(vni)));
    }
    if !all.contains(&vni) {
        return Err(engine_status(EngineError::UnknownVni(vni)));
    }
    Ok(vec![vni])
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

fn list_vnis(node: &EvpnNode) -> v1::ListVnisResponse {
    let c = &node.counters;
    v1::ListVnisResponse {
        vnis: node
            .engine
            .vni_summaries()
            .into_iter()
            .map(|s| v1::Vni {
                vni: s.evi.vni,
                rd: s.evi.rd.to_string(),
                import_route_targets: s.evi.import.iter().map(import_text).collect(),
                export_route_targets: s.evi.export.iter().map(|rt| rt.to_string()).collect(),
                local_macs: s.local_macs as u64,
                remote_macs: s.remote_macs as u64,
                flood_vteps: s.flood_vteps as u64,
                neighbors: s.neighbors as u64,
                duplicates: s.duplicates as u64,
            })
            .collect(),
        status: Some(v1::EngineStatus {
            vtep: node.vtep.to_string(),
            dataplane: node.dataplane.kind().into(),
            learned: c.learned,
            moved: c.moved,
            removed: c.removed,
            duplicate: c.duplicate,
            unfrozen: c.unfrozen,
            sticky_conflict: c.sticky_conflict,
            routes_originated: c.routes_originated,
            routes_withdrawn: c.routes_withdrawn,
            intents: c.intents,
        }),
    }
}

fn list_macs(node: &EvpnNode, vni: u32, now: Instant) -> Result<v1::ListMacsResponse, Status> {
    let mut macs = Vec::new();
    for v in vnis(node, vni)? {
        for m in node.engine.mac_table(v) {
            macs.push(v1::MacEntry {
                vni: m.vni,
                mac: m.mac.to_string(),
                location: m.origin.to_string(),
                sequence: m.sequence,
                sticky: m.sticky,
                ips: m.ips.iter().map(IpAddr::to_string).collect(),
                moves: m.moves,
                duplicate: Some(duplicate(&m.duplicate, now)),
                sticky_conflict: m.sticky_conflict,
                age_seconds: now.saturating_duration_since(m.since).as_secs(),
            });
        }
    }
    Ok(v1::ListMacsResponse { macs })
}

fn list_flood(node: &EvpnNode, vni: u32) -> Result<v1::ListFloodResponse, Status> {
    Ok(v1::ListFloodResponse {
        lists: vnis(node, vni)?
            .into_iter()
            .map(|v| v1::FloodList {
                vni: v,
                vteps: node
                    .engine
                    .flood_list(v)
                    .iter()
                    .map(IpAddr::to_string)
                    .collect(),
            })
            .collect(),
    })
}

fn list_arp(node: &EvpnNode, vni: u32, now: Instant) -> Result<v1::ListArpResponse, Status> {
    let mut neighbors = Vec::new();
    for v in vnis(node, vni)? {
        for n in node.engine.neighbors(v) {
            neighbors.push(v1::NeighborEntry {
                vni: n.vni,
                ip: n.ip.to_string(),
                mac: n.mac.to_string(),
                location: n.origin.to_string(),
                router: n.router,
                immutable: n.immutable,
                duplicate: Some(duplicate(&n.duplicate, now)),
            });
        }
    }
    Ok(v1::ListArpResponse { neighbors })
}

fn parse_mac(s: &str) -> Result<MacAddress, Status> {
    if s.is_empty() {
        return Err(Status::invalid_argument("mac: required"));
    }
    s.parse()
        .map_err(|e| Status::invalid_argument(format!("mac: {s:?}: {e}")))
}

/// An optional IP: empty means none.
fn parse_ip(s: &str) -> Result<Option<IpAddr>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| Status::invalid_argument(format!("ip: {s:?} is not an IP address")))
}

fn attach(
    node: &mut EvpnNode,
    r: &v1::AttachEndpointRequest,
    now: Instant,
) -> Result<v1::AttachEndpointResponse, Status> {
    let mac = parse_mac(&r.mac)?;
    let ip = parse_ip(&r.ip)?;
    crate::config::check_endpoint(mac, ip, r.router, r.static_binding)
        .map_err(|(field, reason)| Status::invalid_argument(format!("{field}: {reason}")))?;
    let a = Attachment {
        vni: r.vni,
        mac,
        ip,
        sticky: r.sticky,
        router: r.router,
        static_binding: r.static_binding,
    };
    node.engine
        .local_attach(&a, now)
        .map_err(engine_status)
        .map(|()| v1::AttachEndpointResponse {})
}

fn detach(
    node: &mut EvpnNode,
    r: &v1::DetachEndpointRequest,
    now: Instant,
) -> Result<v1::DetachEndpointResponse, Status> {
    let mac = parse_mac(&r.mac)?;
    let ip = parse_ip(&r.ip)?;
    node.engine
        .local_detach(r.vni, mac, ip, now)
        .map_err(engine_status)
        .map(|()| v1::DetachEndpointResponse {})
}

fn clear(
    node: &mut EvpnNode,
    r: &v1::ClearDuplicateRequest,
    now: Instant,
) -> Result<v1::ClearDuplicateResponse, Status> {
    let subject = match (r.mac.is_empty(), r.ip.is_empty()) {
        (true, true) => None,
        (false, true) => Some(Subject::Mac(parse_mac(&r.mac)?)),
        (true, false) => parse_ip(&r.ip)?.map(Subject::Ip),
        (false, false) => {
            return Err(Status::invalid_argument(
                "give a mac or an ip, not both (neither: everything in the VNI)",
            ))
        }
    };
    let cleared = node
        .engine
        .clear_duplicate(r.vni, subject, now)
        .map_err(engine_status)?;
    Ok(v1::ClearDuplicateResponse {
        cleared: u32::try_from(cleared).unwrap_or(u32::MAX),
    })
}

fn dataplane(node: &EvpnNode) -> Result<v1::ListDataplaneResponse, Status> {
    let Some(m) = node.dataplane.memory() else {
        return Err(Status::failed_precondition(format!(
            "the data plane is {:?}: only \"memory\" keeps tables to show",
            node.dataplane.kind()
        )));
    };
    Ok(v1::ListDataplaneResponse {
        kind: node.dataplane.kind().into(),
        macs: m
            .fdb
            .iter()
            .map(|((vni, mac), e)| v1::DataplaneMac {
                vni: *vni,
                mac: mac.to_string(),
                vtep: e.vtep.to_string(),
                sticky: e.sticky,
            })
            .collect(),
        flood: m
            .flood
            .iter()
            .map(|(vni, vteps)| v1::FloodList {
                vni: *vni,
                vteps: vteps.iter().map(IpAddr::to_string).collect(),
            })
            .collect(),
        neighbors: m
            .neigh
            .iter()
            .map(|((vni, ip), n)| v1::DataplaneNeighbor {
                vni: *vni,
                ip: ip.to_string(),
                mac: n.mac.to_string(),
                router: n.router,
                local: n.local,
            })
            .collect(),
        applied: m.applied,
        errors: m.errors,
    })
}
