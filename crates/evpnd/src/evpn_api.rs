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

/// A VNI must fit in 24 bits (RFC 7348 §5): INVALID_ARGUMENT otherwise.
fn check_vni(vni: u32) -> Result<u32, Status> {
    if vni > 0x00ff_ffff {
        return Err(engine_status(EngineError::InvalidVni(vni)));
    }
    Ok(vni)
}

/// The VNIs a request covers: every EVI for 0, else the one asked for (which must exist).
fn vnis(node: &EvpnNode, vni: u32) -> Result<Vec<u32>, Status> {
    let all: Vec<u32> = node.engine.evis().map(|e| e.vni).collect();
    if vni == 0 {
        return Ok(all);
    }
    check_vni(vni)?;
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
    check_vni(r.vni)?;
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
    check_vni(r.vni)?;
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
    check_vni(r.vni)?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use evpnd_bgp::rib::{Rib, RibConfig};
    use std::time::Duration;
    use tonic::Code;

    fn node(kind: &str) -> EvpnNode {
        let c = crate::config::parse(&format!(
            "asn = 65000\nrouter-id = \"198.19.0.1\"\n[evpn]\nvtep = \"198.19.0.1\"\n[[vni]]\nvni = 100\n[dataplane]\nkind = \"{kind}\"\n"
        ))
        .unwrap();
        let rib = Rib::new(RibConfig::new(65000, c.router_id));
        EvpnNode::start(c.evpn.as_ref().unwrap(), c.dataplane, &rib, Instant::now())
    }

    fn attach_req(vni: u32, mac: &str, ip: &str) -> v1::AttachEndpointRequest {
        v1::AttachEndpointRequest {
            vni,
            mac: mac.into(),
            ip: ip.into(),
            ..Default::default()
        }
    }

    #[test]
    fn bad_input_is_refused_with_the_right_code() {
        let now = Instant::now();
        let mut n = node("memory");
        let code = |r: Result<v1::AttachEndpointResponse, Status>| r.unwrap_err().code();
        let mac = "02:00:00:00:00:01";
        assert_eq!(
            code(attach(&mut n, &attach_req(100, "", ""), now)),
            Code::InvalidArgument
        );
        assert_eq!(
            code(attach(&mut n, &attach_req(100, "zz", ""), now)),
            Code::InvalidArgument
        );
        assert_eq!(
            code(attach(
                &mut n,
                &attach_req(100, "ff:ff:ff:ff:ff:ff", ""),
                now
            )),
            Code::InvalidArgument
        );
        assert_eq!(
            code(attach(
                &mut n,
                &attach_req(100, "00:00:00:00:00:00", ""),
                now
            )),
            Code::InvalidArgument
        );
        assert_eq!(
            code(attach(&mut n, &attach_req(100, mac, "1.2.3"), now)),
            Code::InvalidArgument
        );
        assert_eq!(
            code(attach(&mut n, &attach_req(100, mac, "0.0.0.0"), now)),
            Code::InvalidArgument
        );
        let mut r = attach_req(100, mac, "192.0.2.1");
        r.router = true;
        let e = attach(&mut n, &r, now).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("router:"), "{e:?}");
        assert_eq!(
            code(attach(&mut n, &attach_req(200, mac, ""), now)),
            Code::NotFound
        );
        assert_eq!(
            code(attach(&mut n, &attach_req(1 << 24, mac, ""), now)),
            Code::InvalidArgument,
            "a VNI above 24 bits is malformed"
        );
        // Nothing of the above reached the engine.
        assert!(n.engine.mac_table(100).is_empty());

        assert_eq!(
            list_macs(&n, 1 << 24, now).unwrap_err().code(),
            Code::InvalidArgument
        );
        assert_eq!(list_macs(&n, 200, now).unwrap_err().code(), Code::NotFound);
        assert_eq!(list_flood(&n, 200).unwrap_err().code(), Code::NotFound);
        assert_eq!(list_arp(&n, 200, now).unwrap_err().code(), Code::NotFound);
        let both = v1::ClearDuplicateRequest {
            vni: 100,
            mac: mac.into(),
            ip: "192.0.2.1".into(),
        };
        assert_eq!(
            clear(&mut n, &both, now).unwrap_err().code(),
            Code::InvalidArgument
        );
        let unknown = v1::ClearDuplicateRequest {
            vni: 200,
            ..Default::default()
        };
        assert_eq!(
            clear(&mut n, &unknown, now).unwrap_err().code(),
            Code::NotFound
        );
        let nothing = v1::ClearDuplicateRequest {
            vni: 100,
            ..Default::default()
        };
        assert_eq!(clear(&mut n, &nothing, now).unwrap().cleared, 0);
        let d = v1::DetachEndpointRequest {
            vni: 100,
            mac: "x".into(),
            ip: String::new(),
        };
        assert_eq!(
            detach(&mut n, &d, now).unwrap_err().code(),
            Code::InvalidArgument
        );
        assert!(engine(None).is_err_and(|s| s.code() == Code::FailedPrecondition));
    }

    #[test]
    fn attach_list_detach_round_trip() {
        let now = Instant::now();
        let mut n = node("none");
        let mut r = attach_req(100, "02:00:00:00:00:01", "2001:db8::1");
        r.sticky = true;
        r.router = true;
        attach(&mut n, &r, now).unwrap();
        let macs = list_macs(&n, 0, now).unwrap().macs;
        assert_eq!(macs.len(), 1);
        let m = &macs[0];
        assert_eq!(
            (m.vni, m.mac.as_str(), m.location.as_str(), m.sticky),
            (100, "02:00:00:00:00:01", "local", true)
        );
        assert_eq!(m.ips, vec!["2001:db8::1".to_string()]);
        assert_eq!(m.duplicate, Some(v1::DuplicateState::default()));
        let arp = list_arp(&n, 100, now).unwrap().neighbors;
        assert_eq!(arp.len(), 1);
        assert!(arp[0].router && arp[0].location == "local");
        let v = list_vnis(&n);
        assert_eq!(v.vnis[0].local_macs, 1);
        assert_eq!(v.status.unwrap().dataplane, "none");
        assert_eq!(dataplane(&n).unwrap_err().code(), Code::FailedPrecondition);
        detach(
            &mut n,
            &v1::DetachEndpointRequest {
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
                ip: String::new(),
            },
            now,
        )
        .unwrap();
        assert!(list_macs(&n, 100, now).unwrap().macs.is_empty());
    }

    #[test]
    fn duplicate_state_rows() {
        let now = Instant::now();
        assert_eq!(
            duplicate(&DuplicateState::Normal, now),
            v1::DuplicateState::default()
        );
        let p = duplicate(&DuplicateState::Frozen { until: None }, now);
        assert!(p.frozen && p.permanent && p.seconds_left == 0);
        let t = duplicate(
            &DuplicateState::Frozen {
                until: Some(now + Duration::from_millis(2500)),
            },
            now,
        );
        assert!(t.frozen && !t.permanent);
        assert_eq!(t.seconds_left, 3, "rounded up");
    }
}
