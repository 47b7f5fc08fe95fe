//! Paged List RPCs: each call asks the driver for one page, walked from the cursor the page
//! token carries, so that no answer (and no work in the daemon) is larger than one page. A
//! page token is the last key of the previous page as text: `F.SLOT` for routes (family index
//! and RIB slot), `VNI/MAC` for MACs and endpoints, `VNI/IP` for ARP/ND, `VNI` for flood lists
//! and VNIs, `SLOT` (the neighbour's slot in the node) for neighbours, `NAME` for VRFs and
//! `VRF/PREFIX` for VRF routes. Clients treat it as opaque.

use super::{parse_ip, route_filter, status, Service};
use crate::control::ManageRequest;
use evpnd_api::v1;
use evpnd_evpn::VrfName;
use evpnd_node::RouteCursor;
use evpnd_wire::{IpPrefix, MacAddress, Vni};
use std::net::IpAddr;
use tonic::Status;

/// Entries per page when the request says 0.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// The largest page served (a larger `page_size` is taken as this).
pub const MAX_PAGE_SIZE: usize = 10_000;

/// The page size a request asks for.
pub fn page_size(asked: u32) -> usize {
    match asked {
        0 => DEFAULT_PAGE_SIZE,
        n => (n as usize).min(MAX_PAGE_SIZE),
    }
}

fn bad_token(t: &str) -> Status {
    Status::invalid_argument(format!(
        "page_token: {t:?} is not a token this daemon gave out"
    ))
}

/// A VNI inside a page token.
fn token_vni(t: &str, s: &str) -> Result<Vni, Status> {
    s.parse::<u32>()
        .ok()
        .and_then(|n| Vni::new(n).ok())
        .ok_or_else(|| bad_token(t))
}

/// The route cursor of a page token (`None`: from the start).
pub fn route_cursor(t: &str) -> Result<Option<RouteCursor>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    let (f, s) = t.split_once('.').ok_or_else(|| bad_token(t))?;
    Ok(Some(RouteCursor {
        family: f.parse().map_err(|_| bad_token(t))?,
        slot: s.parse().map_err(|_| bad_token(t))?,
    }))
}

/// The token of a route cursor.
pub fn route_token(c: RouteCursor) -> String {
    format!("{}.{}", c.family, c.slot)
}

/// A `VNI/MAC` cursor.
pub fn mac_cursor(t: &str) -> Result<Option<(Vni, MacAddress)>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    let (v, m) = t.split_once('/').ok_or_else(|| bad_token(t))?;
    Ok(Some((
        token_vni(t, v)?,
        m.parse().map_err(|_| bad_token(t))?,
    )))
}

/// A `VNI/IP` cursor.
pub fn ip_cursor(t: &str) -> Result<Option<(Vni, IpAddr)>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    let (v, ip) = t.split_once('/').ok_or_else(|| bad_token(t))?;
    Ok(Some((
        token_vni(t, v)?,
        ip.parse().map_err(|_| bad_token(t))?,
    )))
}

/// A `VNI` cursor.
pub fn vni_cursor(t: &str) -> Result<Option<Vni>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    token_vni(t, t).map(Some)
}

/// A neighbour-slot cursor.
pub fn slot_cursor(t: &str) -> Result<Option<u32>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| bad_token(t))
}

/// A VRF-name cursor.
pub fn vrf_cursor(t: &str) -> Result<Option<VrfName>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    VrfName::new(t).map(Some).map_err(|_| bad_token(t))
}

/// A `VRF/PREFIX` cursor (a VRF name never holds a `/`).
pub fn vrf_route_cursor(t: &str) -> Result<Option<(VrfName, IpPrefix)>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    let (v, p) = t.split_once('/').ok_or_else(|| bad_token(t))?;
    Ok(Some((
        VrfName::new(v).map_err(|_| bad_token(t))?,
        p.parse().map_err(|_| bad_token(t))?,
    )))
}

/// The token of a (VNI, key) cursor.
fn keyed_token<K: std::fmt::Display>(c: Option<(Vni, K)>) -> String {
    c.map(|(v, k)| format!("{}/{k}", v.get()))
        .unwrap_or_default()
}

impl Service {
    /// `ListRoutes`, one page.
    pub(super) async fn routes_page(
        &self,
        r: v1::ListRoutesRequest,
    ) -> Result<v1::ListRoutesResponse, Status> {
        let mut filter = route_filter(&r)?;
        if !r.rt.is_empty() {
            filter.route_target = Some(
                r.rt.parse()
                    .map_err(|e| Status::invalid_argument(format!("rt: {:?}: {e}", r.rt)))?,
            );
        }
        filter.ip = parse_ip("ip", &r.ip)?;
        filter.peer = match r.peer.as_str() {
            "" => None,
            "local" => Some(evpnd_node::PathSource::Local),
            p => Some(evpnd_node::PathSource::Peer(p.parse().map_err(|_| {
                Status::invalid_argument(format!(
                    "peer: {p:?} is neither a neighbour address nor \"local\""
                ))
            })?)),
        };
        filter.best_only = r.best_only;
        let after = route_cursor(&r.page_token)?;
        let limit = page_size(r.page_size);
        let page = self
            .manage(|tx| ManageRequest::RoutesPage(filter, after, limit, tx))
            .await?
            .map_err(status)?;
        let mut out = super::render::routes(&page.items);
        out.next_page_token = page.next.map(route_token).unwrap_or_default();
        Ok(out)
    }

    /// `ListVrfs`, one page.
    pub(super) async fn vrfs_page(
        &self,
        r: v1::ListVrfsRequest,
    ) -> Result<v1::ListVrfsResponse, Status> {
        let after = vrf_cursor(&r.page_token)?;
        let limit = page_size(r.page_size);
        let page = self
            .manage(|tx| ManageRequest::VrfsPage(after, limit, tx))
            .await?
            .map_err(status)?;
        Ok(v1::ListVrfsResponse {
            vrfs: page.items.iter().map(super::render::vrf).collect(),
            next_page_token: page.next.map(|v| v.to_string()).unwrap_or_default(),
        })
    }

    /// `ListIpRoutes`, one page.
    pub(super) async fn ip_routes_page(
        &self,
        r: v1::ListIpRoutesRequest,
    ) -> Result<v1::ListIpRoutesResponse, Status> {
        let vrf = if r.vrf.is_empty() {
            None
        } else {
            evpnd_node::validate::vrf_name("vrf", &r.vrf).map_err(status)?;
            Some(r.vrf)
        };
        let after = vrf_route_cursor(&r.page_token)?;
        let limit = page_size(r.page_size);
        let page = self
            .manage(|tx| ManageRequest::IpRoutesPage(vrf, after, limit, tx))
            .await?
            .map_err(status)?;
        Ok(v1::ListIpRoutesResponse {
            routes: page.items.iter().map(super::render::ip_route).collect(),
            next_page_token: page
                .next
                .map(|(v, p)| format!("{v}/{p}"))
                .unwrap_or_default(),
        })
    }

    /// `ListMacs`, one page.
    pub(super) async fn macs_page(
        &self,
        r: v1::ListMacsRequest,
    ) -> Result<v1::ListMacsResponse, Status> {
        let after = mac_cursor(&r.page_token)?;
        let limit = page_size(r.page_size);
        let page = self
            .manage(|tx| ManageRequest::MacsPage(r.vni, after, limit, tx))
            .await?
            .map_err(status)?;
        let mut out = super::render::macs(&page.items);
        out.next_page_token = keyed_token(page.next);
        Ok(out)
    }

    /// `ListArp`, one page.
    pub(super) async fn arp_page(
        &self,
        r: v1::ListArpRequest,
    ) -> Result<v1::ListArpResponse, Status> {
        let after = ip_cursor(&r.page_token)?;
        let limit = page_size(r.page_size);
        let page = self
            .manage(|tx| ManageRequest::ArpPage(r.vni, after, limit, tx))
            .await?
            .map_err(status)?;
        let mut out = super::render::arp(&page.items);
        out.next_page_token = keyed_token(page.next);
        Ok(out)
    }

    /// `ListFlood`, one page.
    pub(super) async fn flood_page(
        &self,
        r: v1::ListFloodRequest,
    ) -> Result<v1::ListFloodResponse, Status> {
        let after = vni_cursor(&r.page_token)?;
        let limit = page_size(r.page_size);
        let page = self
            .manage(|tx| ManageRequest::FloodPage(r.vni, after, limit, tx))
            .await?
            .map_err(status)?;
        let mut out = super::render::flood(&page.items);
        out.next_page_token = page.next.map(|v| v.get().to_string()).unwrap_or_default();
        Ok(out)
    }

    /// `ListEndpoints`, one page.
    pub(super) async fn endpoints_page(
        &self,
        r: v1::ListEndpointsRequest,
    ) -> Result<v1::ListEndpointsResponse, Status> {
        let after = mac_cursor(&r.page_token)?;
        let limit = page_size(r.page_size);
        let page = self
            .manage(|tx| ManageRequest::EndpointsPage(r.vni, after, limit, tx))
            .await?
            .map_err(status)?;
        Ok(v1::ListEndpointsResponse {
            endpoints: super::render::endpoints(&page.items),
            next_page_token: keyed_token(page.next),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_name_the_field() {
        let c = RouteCursor {
            family: 0,
            slot: 42,
        };
        assert_eq!(route_cursor(&route_token(c)).unwrap(), Some(c));
        assert_eq!(route_cursor("").unwrap(), None);
        for t in ["x", "0.", "a.1"] {
            assert!(route_cursor(t)
                .unwrap_err()
                .message()
                .starts_with("page_token:"));
        }
        let m: MacAddress = "02:00:00:00:00:01".parse().unwrap();
        let v = Vni::new(100).unwrap();
        assert_eq!(
            mac_cursor(&keyed_token(Some((v, m)))).unwrap(),
            Some((v, m))
        );
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            ip_cursor(&keyed_token(Some((v, ip)))).unwrap(),
            Some((v, ip))
        );
        assert!(mac_cursor("100/zz").is_err());
        assert_eq!(vni_cursor("100").unwrap(), Some(v));
        assert_eq!(slot_cursor("7").unwrap(), Some(7));
        assert_eq!(slot_cursor("").unwrap(), None);
        assert!(slot_cursor("-1").is_err() && vni_cursor("0").is_err());
        assert_eq!(page_size(0), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(1_000_000), MAX_PAGE_SIZE);
        assert_eq!(page_size(5), 5);
    }
}
