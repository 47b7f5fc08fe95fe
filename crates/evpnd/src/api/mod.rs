//! The gRPC API (crates/api/proto/evpnd.proto) served over a unix socket or TCP: the only
//! module that speaks tonic. A request is parsed into the node's own types (a string that is
//! not a MAC or an IP is refused here, naming the field), sent to the driver as a
//! [`Request`], and the answer rendered into protobuf ([`render`]). Everything else — a VNI out
//! of range, a group MAC, an unknown neighbour — is judged by the node and comes back as a
//! [`CommandError`], mapped to its gRPC code with the field in the message.

mod explain;
mod intent;
mod manage;
mod pages;
mod render;
mod watch;

pub(crate) use manage::{neighbor_spec, vni_spec, vrf_spec};
pub(crate) use render::import_text;

use crate::config::ApiListen;
use crate::control::{Answer, Request};
use evpnd_api::v1;
use evpnd_api::v1::evpnd_server::{Evpnd, EvpndServer};
use evpnd_evpn::PortName;
use evpnd_evpn::Subject;
use evpnd_node::{Command, CommandError, EndpointSpec, ErrorKind, Reply, RouteFilter};
use evpnd_wire::{Family, MacAddress};
use std::net::IpAddr;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request as GrpcRequest, Response, Status};

/// The gRPC status of a refused command or query: its kind, and `field: reason`.
pub fn status(e: CommandError) -> Status {
    let msg = e.to_string();
    match e.kind {
        ErrorKind::InvalidArgument => Status::invalid_argument(msg),
        ErrorKind::NotFound => Status::not_found(msg),
        ErrorKind::FailedPrecondition => Status::failed_precondition(msg),
        ErrorKind::AlreadyExists => Status::already_exists(msg),
    }
}

/// A required MAC field.
fn parse_mac(field: &'static str, s: &str) -> Result<MacAddress, Status> {
    if s.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: required")));
    }
    s.parse()
        .map_err(|e| Status::invalid_argument(format!("{field}: {s:?}: {e}")))
}

/// An optional IP field: empty means none.
fn parse_ip(field: &'static str, s: &str) -> Result<Option<IpAddr>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| Status::invalid_argument(format!("{field}: {s:?} is not an IP address")))
}

/// An optional interface name: empty means none.
fn parse_port(field: &'static str, s: &str) -> Result<Option<PortName>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    PortName::new(s)
        .map(Some)
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

/// A family by its name ("l2vpn-evpn", "ipv4-rtc", "ipv4-unicast", "ipv6-unicast"); empty
/// means none.
fn parse_family(s: &str) -> Result<Option<Family>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    [
        Family::L2VPN_EVPN,
        Family::RT_CONSTRAINT,
        Family::IPV4_UNICAST,
        Family::IPV6_UNICAST,
    ]
    .into_iter()
    .find(|f| f.name() == s)
    .map(Some)
    .ok_or_else(|| {
        Status::invalid_argument(format!(
            "family: unknown {s:?} (l2vpn-evpn, ipv4-rtc, ipv4-unicast, ipv6-unicast)"
        ))
    })
}

/// The route filter of `ListRoutes` (empty fields match everything).
fn route_filter(r: &v1::ListRoutesRequest) -> Result<RouteFilter, Status> {
    let family = parse_family(&r.family)?;
    let route_type = match r.route_type {
        0 => None,
        t => Some(
            u8::try_from(t)
                .ok()
                .filter(|t| (1..=5).contains(t))
                .ok_or_else(|| {
                    Status::invalid_argument(format!("route_type: {t} (EVPN types are 1 to 5)"))
                })?,
        ),
    };
    let rd = if r.rd.is_empty() {
        None
    } else {
        Some(
            r.rd.parse()
                .map_err(|e| Status::invalid_argument(format!("rd: {e}")))?,
        )
    };
    let mac = if r.mac.is_empty() {
        None
    } else {
        Some(parse_mac("mac", &r.mac)?)
    };
    let vrf = if r.vrf.is_empty() {
        None
    } else {
        Some(evpnd_node::validate::vrf_name("vrf", &r.vrf).map_err(status)?)
    };
    Ok(RouteFilter {
        family,
        route_type,
        rd,
        mac,
        vni: (r.vni != 0).then_some(r.vni),
        vrf,
        ..RouteFilter::default()
    })
}

struct Service {
    driver: mpsc::UnboundedSender<Request>,
}

impl Service {
    /// Sends a request to the driver and waits for its answer.
    async fn ask<T>(&self, make: impl FnOnce(Answer<T>) -> Request) -> Result<T, Status> {
        let (tx, rx) = oneshot::channel();
        self.driver
            .send(make(tx))
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        rx.await
            .map_err(|_| Status::internal("the daemon dropped the request"))
    }

    /// Carries out a command.
    async fn command(&self, cmd: Command) -> Result<Reply, Status> {
        self.ask(|tx| Request::Command(cmd, tx))
            .await?
            .map_err(status)
    }
}

#[tonic::async_trait]
impl Evpnd for Service {
    async fn list_neighbors(
        &self,
        req: GrpcRequest<v1::ListNeighborsRequest>,
    ) -> Result<Response<v1::ListNeighborsResponse>, Status> {
        let r = req.into_inner();
        let after = pages::slot_cursor(&r.page_token)?;
        let limit = pages::page_size(r.page_size);
        let page = self.ask(|tx| Request::Neighbors(after, limit, tx)).await?;
        let mut out = render::neighbors(&page.items);
        out.next_page_token = page.next.map(|s| s.to_string()).unwrap_or_default();
        Ok(Response::new(out))
    }

    async fn list_peer_groups(
        &self,
        _req: GrpcRequest<v1::ListPeerGroupsRequest>,
    ) -> Result<Response<v1::ListPeerGroupsResponse>, Status> {
        let (groups, refused) = self.ask(Request::PeerGroups).await?;
        Ok(Response::new(render::peer_groups(&groups, refused)))
    }

    async fn list_routes(
        &self,
        req: GrpcRequest<v1::ListRoutesRequest>,
    ) -> Result<Response<v1::ListRoutesResponse>, Status> {
        self.routes_page(req.into_inner()).await.map(Response::new)
    }

    async fn refresh_neighbor(
        &self,
        req: GrpcRequest<v1::RefreshNeighborRequest>,
    ) -> Result<Response<v1::RefreshNeighborResponse>, Status> {
        let r = req.into_inner();
        let address: IpAddr = r.address.parse().map_err(|_| {
            Status::invalid_argument(format!("address: {:?} is not an IP address", r.address))
        })?;
        let family = parse_family(&r.family)?;
        match self.command(Command::Refresh { address, family }).await? {
            Reply::Refreshed(families) => Ok(Response::new(v1::RefreshNeighborResponse {
                families: families.iter().map(|f| f.name()).collect(),
            })),
            _ => Err(Status::internal("unexpected reply to a refresh")),
        }
    }

    async fn list_vnis(
        &self,
        req: GrpcRequest<v1::ListVnisRequest>,
    ) -> Result<Response<v1::ListVnisResponse>, Status> {
        let r = req.into_inner();
        let after = pages::vni_cursor(&r.page_token)?;
        let limit = pages::page_size(r.page_size);
        let a = self
            .ask(|tx| Request::Vnis(after, limit, tx))
            .await?
            .map_err(status)?;
        Ok(Response::new(render::vnis(&a)))
    }

    async fn list_macs(
        &self,
        req: GrpcRequest<v1::ListMacsRequest>,
    ) -> Result<Response<v1::ListMacsResponse>, Status> {
        self.macs_page(req.into_inner()).await.map(Response::new)
    }

    async fn list_flood(
        &self,
        req: GrpcRequest<v1::ListFloodRequest>,
    ) -> Result<Response<v1::ListFloodResponse>, Status> {
        self.flood_page(req.into_inner()).await.map(Response::new)
    }

    async fn list_arp(
        &self,
        req: GrpcRequest<v1::ListArpRequest>,
    ) -> Result<Response<v1::ListArpResponse>, Status> {
        self.arp_page(req.into_inner()).await.map(Response::new)
    }

    async fn attach_endpoint(
        &self,
        req: GrpcRequest<v1::AttachEndpointRequest>,
    ) -> Result<Response<v1::AttachEndpointResponse>, Status> {
        let r = req.into_inner();
        let spec = EndpointSpec {
            vni: r.vni,
            mac: parse_mac("mac", &r.mac)?,
            ip: parse_ip("ip", &r.ip)?,
            sticky: r.sticky,
            router: r.router,
            static_binding: r.static_binding,
            port: parse_port("interface", &r.interface)?,
        };
        self.command(Command::Attach(spec)).await?;
        Ok(Response::new(v1::AttachEndpointResponse {}))
    }

    async fn detach_endpoint(
        &self,
        req: GrpcRequest<v1::DetachEndpointRequest>,
    ) -> Result<Response<v1::DetachEndpointResponse>, Status> {
        let r = req.into_inner();
        let cmd = Command::Detach {
            vni: r.vni,
            mac: parse_mac("mac", &r.mac)?,
            ip: parse_ip("ip", &r.ip)?,
        };
        self.command(cmd).await?;
        Ok(Response::new(v1::DetachEndpointResponse {}))
    }

    async fn clear_duplicate(
        &self,
        req: GrpcRequest<v1::ClearDuplicateRequest>,
    ) -> Result<Response<v1::ClearDuplicateResponse>, Status> {
        let r = req.into_inner();
        let subject = match (r.mac.is_empty(), r.ip.is_empty()) {
            (true, true) => None,
            (false, true) => Some(Subject::Mac(parse_mac("mac", &r.mac)?)),
            (true, false) => parse_ip("ip", &r.ip)?.map(Subject::Ip),
            (false, false) => {
                return Err(Status::invalid_argument(
                    "mac: give a mac or an ip, not both (neither: everything in the VNI)",
                ))
            }
        };
        match self
            .command(Command::ClearDuplicate {
                vni: r.vni,
                subject,
            })
            .await?
        {
            Reply::Cleared(n) => Ok(Response::new(v1::ClearDuplicateResponse {
                cleared: u32::try_from(n).unwrap_or(u32::MAX),
            })),
            _ => Err(Status::internal("unexpected reply to a clear")),
        }
    }

    async fn list_dataplane(
        &self,
        _req: GrpcRequest<v1::ListDataplaneRequest>,
    ) -> Result<Response<v1::ListDataplaneResponse>, Status> {
        let m = self.ask(Request::Dataplane).await?.map_err(status)?;
        Ok(Response::new(render::dataplane(&m)))
    }

    async fn explain(
        &self,
        req: GrpcRequest<v1::ExplainRequest>,
    ) -> Result<Response<v1::ExplainResponse>, Status> {
        explain::explain(self, req.into_inner())
            .await
            .map(Response::new)
    }
    async fn create_vni(
        &self,
        req: GrpcRequest<v1::CreateVniRequest>,
    ) -> Result<Response<v1::CreateVniResponse>, Status> {
        self.create_vni_call(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete_vni(
        &self,
        req: GrpcRequest<v1::DeleteVniRequest>,
    ) -> Result<Response<v1::DeleteVniResponse>, Status> {
        self.delete_vni_call(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn add_neighbor(
        &self,
        req: GrpcRequest<v1::AddNeighborRequest>,
    ) -> Result<Response<v1::AddNeighborResponse>, Status> {
        self.add_neighbor_call(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn remove_neighbor(
        &self,
        req: GrpcRequest<v1::RemoveNeighborRequest>,
    ) -> Result<Response<v1::RemoveNeighborResponse>, Status> {
        self.remove_neighbor_call(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn add_vrf(
        &self,
        req: GrpcRequest<v1::AddVrfRequest>,
    ) -> Result<Response<v1::AddVrfResponse>, Status> {
        self.add_vrf_call(req.into_inner()).await.map(Response::new)
    }

    async fn remove_vrf(
        &self,
        req: GrpcRequest<v1::RemoveVrfRequest>,
    ) -> Result<Response<v1::RemoveVrfResponse>, Status> {
        self.remove_vrf_call(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_vrfs(
        &self,
        req: GrpcRequest<v1::ListVrfsRequest>,
    ) -> Result<Response<v1::ListVrfsResponse>, Status> {
        self.vrfs_page(req.into_inner()).await.map(Response::new)
    }

    async fn list_ip_routes(
        &self,
        req: GrpcRequest<v1::ListIpRoutesRequest>,
    ) -> Result<Response<v1::ListIpRoutesResponse>, Status> {
        self.ip_routes_page(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn reset_neighbor(
        &self,
        req: GrpcRequest<v1::ResetNeighborRequest>,
    ) -> Result<Response<v1::ResetNeighborResponse>, Status> {
        self.reset_neighbor_call(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_endpoints(
        &self,
        req: GrpcRequest<v1::ListEndpointsRequest>,
    ) -> Result<Response<v1::ListEndpointsResponse>, Status> {
        self.endpoints_page(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn reload_config(
        &self,
        _req: GrpcRequest<v1::ReloadConfigRequest>,
    ) -> Result<Response<v1::ReloadConfigResponse>, Status> {
        self.reload_call().await.map(Response::new)
    }
}

/// Starts serving the API on `listen`; requests go to the driver through `driver`.
pub async fn serve(
    listen: ApiListen,
    driver: mpsc::UnboundedSender<Request>,
) -> Result<(), Box<dyn std::error::Error>> {
    let watch = evpnd_api::v1::watch_server::WatchServer::new(Service {
        driver: driver.clone(),
    });
    let svc = EvpndServer::new(Service { driver });
    match listen {
        ApiListen::Unix(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            // A socket left by a previous run would make bind fail; only remove a socket.
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_socket() {
                    let _ = std::fs::remove_file(&path);
                }
            }
            let listener = tokio::net::UnixListener::bind(&path)
                .map_err(|e| format!("cannot listen for the API on {}: {e}", path.display()))?;
            // The API can move tenants and reset sessions: only the daemon's user may connect.
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot restrict {} to mode 0600: {e}", path.display()))?;
            }
            tracing::info!(path = %path.display(), "API listening");
            spawn_server(
                (svc, watch),
                tokio_stream::wrappers::UnixListenerStream::new(listener),
            );
        }
        ApiListen::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for the API on {addr}: {e}"))?;
            tracing::info!(%addr, "API listening");
            spawn_server(
                (svc, watch),
                tokio_stream::wrappers::TcpListenerStream::new(listener),
            );
        }
    }
    Ok(())
}

/// Serves the API on the connections `incoming` yields, in the background.
fn spawn_server<I, IO, IE>(
    (svc, watch): (
        EvpndServer<Service>,
        evpnd_api::v1::watch_server::WatchServer<Service>,
    ),
    incoming: I,
) where
    I: tokio_stream::Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IO::ConnectInfo: Clone + Send + Sync + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(svc)
            .add_service(watch)
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!("API server failed: {e}");
        }
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn refusals_keep_their_kind_and_name_the_field() {
        let s = status(CommandError::invalid(
            "vni",
            "VNI 16777216 is outside 1..=16777215",
        ));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().starts_with("vni: "), "{s:?}");
        assert_eq!(
            status(CommandError::not_found("vni", "x")).code(),
            Code::NotFound
        );
        assert_eq!(
            status(CommandError::precondition("address", "x")).code(),
            Code::FailedPrecondition
        );
        assert_eq!(
            status(CommandError::exists("address", "x")).code(),
            Code::AlreadyExists
        );
    }

    #[test]
    fn text_fields_are_parsed_here_and_name_the_field() {
        assert!(parse_mac("mac", "")
            .unwrap_err()
            .message()
            .starts_with("mac:"));
        assert!(parse_mac("mac", "zz")
            .unwrap_err()
            .message()
            .starts_with("mac:"));
        assert!(parse_ip("ip", "1.2.3")
            .unwrap_err()
            .message()
            .starts_with("ip:"));
        assert_eq!(parse_ip("ip", "").unwrap(), None);
        let bad = v1::ListRoutesRequest {
            route_type: 9,
            ..Default::default()
        };
        assert!(route_filter(&bad)
            .unwrap_err()
            .message()
            .starts_with("route_type:"));
        let f = route_filter(&v1::ListRoutesRequest {
            family: "l2vpn-evpn".into(),
            vni: 100,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(f.family, Some(Family::L2VPN_EVPN));
        assert_eq!(f.vni, Some(100));
    }
}
