//! Run-time management RPCs: VRFs, VNIs, neighbours and configuration reload. Text
//! fields are parsed here, refused with INVALID_ARGUMENT naming the field; the node judges
//! the rest (NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION).

use super::{parse_family, status, Service};
use crate::control::{ManageRequest, NeighborSpec, Request};
use evpnd_api::v1;
use evpnd_dataplane::{VniOptions, VrfOptions};
use evpnd_evpn::{ImportTarget, PortName};
use evpnd_node::{validate, Command, Reply, ResetKind, Transport, VniSpec, VrfSpec};
use evpnd_wire::{IpPrefix, MacAddress, RouteDistinguisher, RouteTarget, Vni};
use std::net::IpAddr;
use tonic::Status;

/// A required IP address field.
pub(super) fn parse_address(field: &'static str, s: &str) -> Result<IpAddr, Status> {
    if s.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: required")));
    }
    s.parse()
        .map_err(|_| Status::invalid_argument(format!("{field}: {s:?} is not an IP address")))
}

/// An import rule: a route target, or `*:VNI` (any AS).
fn parse_import(t: &str) -> Result<ImportTarget, Status> {
    match t.strip_prefix("*:") {
        Some(n) => n.parse::<Vni>().map(ImportTarget::AnyAs).map_err(|e| {
            Status::invalid_argument(format!(
                "import_route_targets: {t:?}: the wildcard needs a VNI: {e}"
            ))
        }),
        None => t
            .parse::<RouteTarget>()
            .map(ImportTarget::Exact)
            .map_err(|e| Status::invalid_argument(format!("import_route_targets: {t:?}: {e}"))),
    }
}

/// An optional device name of `CreateVni`.
fn device(field: &'static str, s: &str) -> Result<Option<String>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    PortName::new(s)
        .map(|p| Some(p.as_str().to_string()))
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

/// An optional RD field: empty derives it.
fn parse_rd(s: &str) -> Result<Option<RouteDistinguisher>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<RouteDistinguisher>()
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("rd: {s:?}: {e}")))
}

/// Import rules and export route targets, without repeats.
fn route_targets(
    import_text: &[String],
    export_text: &[String],
) -> Result<(Vec<ImportTarget>, Vec<RouteTarget>), Status> {
    let mut import = Vec::new();
    for t in import_text {
        let rule = parse_import(t)?;
        if !import.contains(&rule) {
            import.push(rule);
        }
    }
    let mut export = Vec::new();
    for t in export_text {
        let rt = t
            .parse::<RouteTarget>()
            .map_err(|e| Status::invalid_argument(format!("export_route_targets: {t:?}: {e}")))?;
        if !export.contains(&rt) {
            export.push(rt);
        }
    }
    Ok((import, export))
}

/// The VRF and kernel options of an `AddVrf` request.
pub(crate) fn vrf_spec(r: &v1::AddVrfRequest) -> Result<(VrfSpec, VrfOptions), Status> {
    if r.name.is_empty() {
        return Err(Status::invalid_argument("name: required"));
    }
    validate::vrf_name("name", &r.name).map_err(status)?;
    let (import, export) = route_targets(&r.import_route_targets, &r.export_route_targets)?;
    let router_mac = if r.router_mac.is_empty() {
        None
    } else {
        Some(r.router_mac.parse::<MacAddress>().map_err(|e| {
            Status::invalid_argument(format!("router_mac: {:?}: {e}", r.router_mac))
        })?)
    };
    let mut advertise = Vec::new();
    for p in &r.advertise {
        let p = p
            .parse::<IpPrefix>()
            .map_err(|e| Status::invalid_argument(format!("advertise: {e}")))?;
        if !advertise.contains(&p) {
            advertise.push(p);
        }
    }
    let spec = VrfSpec {
        name: r.name.clone(),
        l3vni: (r.l3vni != 0).then_some(r.l3vni),
        rd: parse_rd(&r.rd)?,
        import,
        export,
        router_mac,
        advertise_connected: r.advertise_connected.unwrap_or(true),
        advertise,
        routes: Vec::new(),
    };
    let options = VrfOptions {
        netns: (!r.netns.is_empty()).then(|| r.netns.clone()),
        table: (r.table != 0).then_some(r.table),
    };
    Ok((spec, options))
}

/// The EVI and device options of a `CreateVni` request.
pub(crate) fn vni_spec(r: &v1::CreateVniRequest) -> Result<(VniSpec, VniOptions), Status> {
    if r.vni == 0 {
        return Err(Status::invalid_argument("vni: required (1..=16777215)"));
    }
    let rd = parse_rd(&r.rd)?;
    let (import, export) = route_targets(&r.import_route_targets, &r.export_route_targets)?;
    let vrf = if r.vrf.is_empty() {
        None
    } else {
        validate::vrf_name("vrf", &r.vrf).map_err(status)?;
        Some(r.vrf.clone())
    };
    let mut gateways = Vec::new();
    for g in &r.gateways {
        let g = validate::gateway_text(g).map_err(status)?;
        if !gateways.contains(&g) {
            gateways.push(g);
        }
    }
    let options = VniOptions {
        bridge: device("bridge", &r.bridge)?,
        vxlan: device("vxlan_device", &r.vxlan_device)?,
        learning: r.learning,
    };
    Ok((
        VniSpec {
            vni: r.vni,
            rd,
            import,
            export,
            vrf,
            gateways,
        },
        options,
    ))
}

/// A small number field that must fit in a byte (TTLs).
fn byte(field: &'static str, v: u32) -> Result<Option<u8>, Status> {
    match v {
        0 => Ok(None),
        v => u8::try_from(v)
            .map(Some)
            .map_err(|_| Status::invalid_argument(format!("{field}: {v} (1..=255)"))),
    }
}

/// The neighbour of an `AddNeighbor` request.
pub(crate) fn neighbor_spec(r: &v1::AddNeighborRequest) -> Result<NeighborSpec, Status> {
    let address = parse_address("address", &r.address)?;
    if r.remote_asn == 0 {
        return Err(Status::invalid_argument("remote_asn: required"));
    }
    let mut families = Vec::new();
    for f in &r.families {
        let fam = match f.as_str() {
            "evpn" => Some(evpnd_wire::Family::L2VPN_EVPN),
            "rtc" | "rt-constraint" => Some(evpnd_wire::Family::RT_CONSTRAINT),
            other => parse_family(other).map_err(|_| {
                Status::invalid_argument(format!(
                    "families: unknown {f:?} (l2vpn-evpn, ipv4-rtc, ipv4-unicast, ipv6-unicast)"
                ))
            })?,
        };
        if let Some(fam) = fam {
            if !families.contains(&fam) {
                families.push(fam);
            }
        }
    }
    let hold_time = match r.hold_time {
        0 => None,
        h => Some(u16::try_from(h).map_err(|_| {
            Status::invalid_argument(format!("hold_time: {h} seconds (0 or 3..=65535)"))
        })?),
    };
    let port = match r.port {
        0 => 179,
        p => u16::try_from(p)
            .map_err(|_| Status::invalid_argument(format!("port: {p} (1..=65535)")))?,
    };
    let local_address = if r.local_address.is_empty() {
        None
    } else {
        Some(parse_address("local_address", &r.local_address)?)
    };
    Ok(NeighborSpec {
        address,
        remote_asn: r.remote_asn,
        families,
        route_reflector_client: r.route_reflector_client,
        passive: r.passive,
        hold_time,
        graceful_restart: r.graceful_restart,
        transport: Transport {
            port,
            local_address,
            md5_password: (!r.md5_password.is_empty()).then(|| r.md5_password.clone()),
            ttl_security: byte("ttl_security", r.ttl_security)?,
            multihop: byte("multihop", r.multihop)?,
        },
    })
}

impl Service {
    /// Sends a management request to the driver and waits for its answer.
    pub(super) async fn manage<T>(
        &self,
        make: impl FnOnce(crate::control::Answer<T>) -> ManageRequest,
    ) -> Result<T, Status> {
        self.ask(|tx| Request::Manage(make(tx))).await
    }

    /// `CreateVni`.
    pub(super) async fn create_vni_call(
        &self,
        r: v1::CreateVniRequest,
    ) -> Result<v1::CreateVniResponse, Status> {
        let (spec, options) = vni_spec(&r)?;
        let summary = self
            .manage(|tx| ManageRequest::CreateVni(spec, options, tx))
            .await?
            .map_err(status)?;
        Ok(v1::CreateVniResponse {
            vni: Some(super::render::vni(&summary, None)),
        })
    }

    /// `DeleteVni`.
    pub(super) async fn delete_vni_call(
        &self,
        r: v1::DeleteVniRequest,
    ) -> Result<v1::DeleteVniResponse, Status> {
        if r.vni == 0 {
            return Err(Status::invalid_argument("vni: required (1..=16777215)"));
        }
        self.manage(|tx| ManageRequest::DeleteVni(r.vni, tx))
            .await?
            .map_err(status)?;
        Ok(v1::DeleteVniResponse {})
    }

    /// `AddVrf`.
    pub(super) async fn add_vrf_call(
        &self,
        r: v1::AddVrfRequest,
    ) -> Result<v1::AddVrfResponse, Status> {
        let (spec, options) = vrf_spec(&r)?;
        let summary = self
            .manage(|tx| ManageRequest::AddVrf(spec, options, tx))
            .await?
            .map_err(status)?;
        Ok(v1::AddVrfResponse {
            vrf: Some(super::render::vrf(&summary)),
        })
    }

    /// `RemoveVrf`.
    pub(super) async fn remove_vrf_call(
        &self,
        r: v1::RemoveVrfRequest,
    ) -> Result<v1::RemoveVrfResponse, Status> {
        if r.name.is_empty() {
            return Err(Status::invalid_argument("name: required"));
        }
        self.manage(|tx| ManageRequest::RemoveVrf(r.name, tx))
            .await?
            .map_err(status)?;
        Ok(v1::RemoveVrfResponse {})
    }

    /// `AddNeighbor`.
    pub(super) async fn add_neighbor_call(
        &self,
        r: v1::AddNeighborRequest,
    ) -> Result<v1::AddNeighborResponse, Status> {
        let spec = neighbor_spec(&r)?;
        self.manage(|tx| ManageRequest::AddNeighbor(spec, tx))
            .await?
            .map_err(status)?;
        Ok(v1::AddNeighborResponse {})
    }

    /// `RemoveNeighbor`.
    pub(super) async fn remove_neighbor_call(
        &self,
        r: v1::RemoveNeighborRequest,
    ) -> Result<v1::RemoveNeighborResponse, Status> {
        let address = parse_address("address", &r.address)?;
        self.command(Command::RemoveNeighbor { address }).await?;
        Ok(v1::RemoveNeighborResponse {})
    }

    /// `ResetNeighbor`.
    pub(super) async fn reset_neighbor_call(
        &self,
        r: v1::ResetNeighborRequest,
    ) -> Result<v1::ResetNeighborResponse, Status> {
        let address = parse_address("address", &r.address)?;
        let kind = if r.soft {
            ResetKind::Soft
        } else {
            ResetKind::Hard
        };
        let families = match self
            .command(Command::ResetNeighbor { address, kind })
            .await?
        {
            Reply::Refreshed(f) => f.iter().map(|f| f.name()).collect(),
            _ => Vec::new(),
        };
        Ok(v1::ResetNeighborResponse { families })
    }

    /// `ReloadConfig`.
    pub(super) async fn reload_call(&self) -> Result<v1::ReloadConfigResponse, Status> {
        let r = self
            .manage(ManageRequest::Reload)
            .await?
            .map_err(Status::failed_precondition)?;
        let text = |v: &[IpAddr]| v.iter().map(IpAddr::to_string).collect();
        Ok(v1::ReloadConfigResponse {
            neighbors_added: text(&r.neighbors_added),
            neighbors_removed: text(&r.neighbors_removed),
            neighbors_changed: text(&r.neighbors_changed),
            vrfs_added: r.vrfs_added,
            vrfs_removed: r.vrfs_removed,
            vnis_added: r.vnis_added,
            vnis_removed: r.vnis_removed,
            vnis_changed: r.vnis_changed,
            ignored: r.ignored,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn create_vni_requests_name_the_bad_field() {
        let bad = |r: v1::CreateVniRequest| vni_spec(&r).unwrap_err().message().to_string();
        let base = v1::CreateVniRequest {
            vni: 100,
            ..Default::default()
        };
        assert!(bad(v1::CreateVniRequest {
            vni: 0,
            ..base.clone()
        })
        .starts_with("vni:"));
        assert!(bad(v1::CreateVniRequest {
            rd: "x".into(),
            ..base.clone()
        })
        .starts_with("rd:"));
        assert!(bad(v1::CreateVniRequest {
            import_route_targets: vec!["1:2:3".into()],
            ..base.clone()
        })
        .starts_with("import_route_targets:"));
        assert!(bad(v1::CreateVniRequest {
            export_route_targets: vec!["nope".into()],
            ..base.clone()
        })
        .starts_with("export_route_targets:"));
        assert!(bad(v1::CreateVniRequest {
            bridge: "a bridge name that is far too long".into(),
            ..base.clone()
        })
        .starts_with("bridge:"));
        let (spec, o) = vni_spec(&v1::CreateVniRequest {
            import_route_targets: vec!["*:100".into(), "65000:7".into()],
            bridge: "br-x".into(),
            learning: Some(false),
            ..base
        })
        .unwrap();
        assert_eq!(spec.import.len(), 2);
        assert_eq!(o.bridge.as_deref(), Some("br-x"));
        assert_eq!(o.learning, Some(false));
    }

    #[test]
    fn layer3_requests_name_the_bad_field() {
        let vni = |r: v1::CreateVniRequest| vni_spec(&r).unwrap_err().message().to_string();
        let base = v1::CreateVniRequest {
            vni: 100,
            ..Default::default()
        };
        assert!(vni(v1::CreateVniRequest {
            vrf: "a name far too long".into(),
            ..base.clone()
        })
        .starts_with("vrf:"));
        assert!(vni(v1::CreateVniRequest {
            vrf: "red".into(),
            gateways: vec!["192.0.2.0/24".into()],
            ..base.clone()
        })
        .starts_with("gateway:"));
        let (spec, _) = vni_spec(&v1::CreateVniRequest {
            vrf: "red".into(),
            gateways: vec!["192.0.2.254/24".into(), "2001:db8:100::1/64".into()],
            ..base
        })
        .unwrap();
        assert_eq!(spec.vrf.as_deref(), Some("red"));
        assert_eq!(spec.gateways.len(), 2);
        let vrf = |r: v1::AddVrfRequest| vrf_spec(&r).unwrap_err().message().to_string();
        let base = v1::AddVrfRequest {
            name: "red".into(),
            l3vni: 5000,
            ..Default::default()
        };
        for (r, field) in [
            (
                v1::AddVrfRequest {
                    name: String::new(),
                    ..base.clone()
                },
                "name:",
            ),
            (
                v1::AddVrfRequest {
                    router_mac: "02:00".into(),
                    ..base.clone()
                },
                "router_mac:",
            ),
            (
                v1::AddVrfRequest {
                    advertise: vec!["203.0.113.0/33".into()],
                    ..base.clone()
                },
                "advertise:",
            ),
            (
                v1::AddVrfRequest {
                    rd: "x".into(),
                    ..base.clone()
                },
                "rd:",
            ),
        ] {
            assert!(vrf(r).starts_with(field), "{field}");
        }
        let (spec, o) = vrf_spec(&v1::AddVrfRequest {
            netns: "h1-red".into(),
            ..base
        })
        .unwrap();
        assert_eq!((spec.l3vni, spec.advertise_connected), (Some(5000), true));
        assert_eq!(o.netns.as_deref(), Some("h1-red"));
    }

    #[test]
    fn add_neighbor_requests_name_the_bad_field() {
        let bad = |r: v1::AddNeighborRequest| neighbor_spec(&r).unwrap_err().message().to_string();
        let base = v1::AddNeighborRequest {
            address: "198.18.0.2".into(),
            remote_asn: 65000,
            ..Default::default()
        };
        assert!(bad(v1::AddNeighborRequest {
            address: "x".into(),
            ..base.clone()
        })
        .starts_with("address:"));
        assert!(bad(v1::AddNeighborRequest {
            remote_asn: 0,
            ..base.clone()
        })
        .starts_with("remote_asn:"));
        assert!(bad(v1::AddNeighborRequest {
            families: vec!["ipv9".into()],
            ..base.clone()
        })
        .starts_with("families:"));
        assert!(bad(v1::AddNeighborRequest {
            hold_time: 70000,
            ..base.clone()
        })
        .starts_with("hold_time:"));
        let s = neighbor_spec(&v1::AddNeighborRequest {
            families: vec!["evpn".into(), "l2vpn-evpn".into()],
            ..base
        })
        .unwrap();
        assert_eq!(s.families, vec![evpnd_wire::Family::L2VPN_EVPN]);
        assert_eq!(s.transport.port, 179);
    }
}
