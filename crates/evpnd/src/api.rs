//! The gRPC API (crates/api/proto/evpnd.proto) served over a unix socket or TCP. Requests are
//! forwarded to the core task and answered from its state; the API never touches protocol state
//! directly.

use crate::config::ApiListen;
use crate::daemon::{Core, CoreEvent};
use evpnd_api::v1;
use evpnd_api::v1::evpnd_server::{Evpnd, EvpndServer};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

/// A question for the core, with where to send the answer.
pub enum ApiRequest {
    /// `ListNeighbors`.
    Neighbors(oneshot::Sender<v1::ListNeighborsResponse>),
    /// `ListRoutes`.
    Routes(
        v1::ListRoutesRequest,
        oneshot::Sender<Result<v1::ListRoutesResponse, Status>>,
    ),
    /// `RefreshNeighbor`.
    Refresh(
        v1::RefreshNeighborRequest,
        oneshot::Sender<Result<v1::RefreshNeighborResponse, Status>>,
    ),
    /// The EVPN requests (answered by `crate::evpn_api`).
    Evpn(EvpnRequest),
}

/// A reply channel.
type Reply<T> = oneshot::Sender<Result<T, Status>>;

/// The EVPN engine's requests, with where to send the answer.
pub enum EvpnRequest {
    /// `ListVnis`.
    Vnis(Reply<v1::ListVnisResponse>),
    /// `ListMacs`.
    Macs(v1::ListMacsRequest, Reply<v1::ListMacsResponse>),
    /// `ListFlood`.
    Flood(v1::ListFloodRequest, Reply<v1::ListFloodResponse>),
    /// `ListArp`.
    Arp(v1::ListArpRequest, Reply<v1::ListArpResponse>),
    /// `AttachEndpoint`.
    Attach(v1::AttachEndpointRequest, Reply<v1::AttachEndpointResponse>),
    /// `DetachEndpoint`.
    Detach(v1::DetachEndpointRequest, Reply<v1::DetachEndpointResponse>),
    /// `ClearDuplicate`.
    Clear(v1::ClearDuplicateRequest, Reply<v1::ClearDuplicateResponse>),
    /// `ListDataplane`.
    Dataplane(Reply<v1::ListDataplaneResponse>),
}

struct Service {
    core: mpsc::UnboundedSender<CoreEvent>,
}

impl Service {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> ApiRequest,
    ) -> Result<T, Status> {
        let (tx, rx) = oneshot::channel();
        self.core
            .send(CoreEvent::Api(make(tx)))
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        rx.await
            .map_err(|_| Status::internal("the daemon dropped the request"))
    }
}

#[tonic::async_trait]
impl Evpnd for Service {
    async fn list_neighbors(
        &self,
        _req: Request<v1::ListNeighborsRequest>,
    ) -> Result<Response<v1::ListNeighborsResponse>, Status> {
        self.ask(ApiRequest::Neighbors).await.map(Response::new)
    }

    async fn list_routes(
        &self,
        req: Request<v1::ListRoutesRequest>,
    ) -> Result<Response<v1::ListRoutesResponse>, Status> {
        let r = req.into_inner();
        self.ask(|tx| ApiRequest::Routes(r, tx))
            .await?
            .map(Response::new)
    }

    async fn refresh_neighbor(
        &self,
        req: Request<v1::RefreshNeighborRequest>,
    ) -> Result<Response<v1::RefreshNeighborResponse>, Status> {
        let r = req.into_inner();
        self.ask(|tx| ApiRequest::Refresh(r, tx))
            .await?
            .map(Response::new)
    }

    async fn list_vnis(
        &self,
        _req: Request<v1::ListVnisRequest>,
    ) -> Result<Response<v1::ListVnisResponse>, Status> {
        self.evpn(EvpnRequest::Vnis).await
    }

    async fn list_macs(
        &self,
        req: Request<v1::ListMacsRequest>,
    ) -> Result<Response<v1::ListMacsResponse>, Status> {
        let r = req.into_inner();
        self.evpn(|tx| EvpnRequest::Macs(r, tx)).await
    }

    async fn list_flood(
        &self,
        req: Request<v1::ListFloodRequest>,
    ) -> Result<Response<v1::ListFloodResponse>, Status> {
        let r = req.into_inner();
        self.evpn(|tx| EvpnRequest::Flood(r, tx)).await
    }

    async fn list_arp(
        &self,
        req: Request<v1::ListArpRequest>,
    ) -> Result<Response<v1::ListArpResponse>, Status> {
        let r = req.into_inner();
        self.evpn(|tx| EvpnRequest::Arp(r, tx)).await
    }

    async fn attach_endpoint(
        &self,
        req: Request<v1::AttachEndpointRequest>,
    ) -> Result<Response<v1::AttachEndpointResponse>, Status> {
        let r = req.into_inner();
        self.evpn(|tx| EvpnRequest::Attach(r, tx)).await
    }

    async fn detach_endpoint(
        &self,
        req: Request<v1::DetachEndpointRequest>,
    ) -> Result<Response<v1::DetachEndpointResponse>, Status> {
        let r = req.into_inner();
        self.evpn(|tx| EvpnRequest::Detach(r, tx)).await
    }

    async fn clear_duplicate(
        &self,
        req: Request<v1::ClearDuplicateRequest>,
    ) -> Result<Response<v1::ClearDuplicateResponse>, Status> {
        let r = req.into_inner();
        self.evpn(|tx| EvpnRequest::Clear(r, tx)).await
    }

    async fn list_dataplane(
        &self,
        _req: Request<v1::ListDataplaneRequest>,
    ) -> Result<Response<v1::ListDataplaneResponse>, Status> {
        self.evpn(EvpnRequest::Dataplane).await
    }
}

impl Service {
    /// Sends an EVPN request to the core and waits for its answer.
    async fn evpn<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> EvpnRequest,
    ) -> Result<Response<T>, Status> {
        self.ask(|tx| ApiRequest::Evpn(make(tx)))
            .await?
            .map(Response::new)
    }
}

/// Starts serving the API on `listen`.
pub async fn serve(
    listen: ApiListen,
    core: mpsc::UnboundedSender<CoreEvent>,
) -> Result<(), Box<dyn std::error::Error>> {
    let svc = EvpndServer::new(Service { core });
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
            tracing::info!(path = %path.display(), "API listening");
            spawn_server(
                svc,
                tokio_stream::wrappers::UnixListenerStream::new(listener),
            );
        }
        ApiListen::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for the API on {addr}: {e}"))?;
            tracing::info!(%addr, "API listening");
            spawn_server(
                svc,
                tokio_stream::wrappers::TcpListenerStream::new(listener),
            );
        }
    }
    Ok(())
}

/// Serves the API on the connections `incoming` yields, in the background.
fn spawn_server<I, IO, IE>(svc: EvpndServer<Service>, incoming: I)
where
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
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!("API server failed: {e}");
        }
    });
}

fn notification(n: &evpnd_wire::Notification, at: Instant, now: Instant) -> v1::Notification {
    let (c, s) = n.describe();
    v1::Notification {
        code: u32::from(n.code),
        subcode: u32::from(n.subcode),
        code_name: c.into(),
        subcode_name: s.into(),
        data: n.data.clone(),
        age_seconds: now.saturating_duration_since(at).as_secs(),
    }
}

/// Answers `req` from the core's state (a refresh request also acts on it).
pub fn answer(core: &mut Core, req: ApiRequest) {
    match req {
        ApiRequest::Refresh(r, tx) => {
            let _ = tx.send(core.refresh_neighbor(&r.address, &r.family));
        }
        ApiRequest::Neighbors(tx) => {
            let _ = tx.send(neighbors(core));
        }
        ApiRequest::Routes(filter, tx) => {
            let _ = tx.send(crate::routes::list_routes(core, &filter));
        }
        ApiRequest::Evpn(r) => crate::evpn_api::answer(core, r),
    }
}

fn neighbors(core: &Core) -> v1::ListNeighborsResponse {
    let now = Instant::now();
    let mut out = Vec::new();
    for (i, p) in core.peers.iter().enumerate() {
        let s = &p.session;
        let stats = s.stats();
        let cfg = &p.neighbor.peer;
        let neg = s.negotiated().filter(|_| p.established);
        let counters = core.rib.peer_counters(evpnd_bgp::PeerId(i as u32));
        out.push(v1::Neighbor {
            address: cfg.address.to_string(),
            remote_asn: cfg.remote_asn,
            local_asn: cfg.local_asn,
            state: core.state_name(i).into(),
            uptime_seconds: stats
                .established_since
                .filter(|_| p.established)
                .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
            peer_router_id: neg
                .map(|n| n.peer_router_id.to_string())
                .unwrap_or_default(),
            families: neg
                .map(|n| n.families.iter().map(|f| f.name()).collect())
                .unwrap_or_default(),
            counters: counters
                .families
                .iter()
                .map(|c| v1::FamilyCounters {
                    family: c.family.name(),
                    received: c.received,
                    accepted: c.accepted,
                    advertised: c.advertised,
                })
                .collect(),
            last_notification_sent: stats
                .last_notification_sent
                .as_ref()
                .map(|(n, at)| notification(n, *at, now)),
            last_notification_received: stats
                .last_notification_received
                .as_ref()
                .map(|(n, at)| notification(n, *at, now)),
            hold_time: neg.map_or(u32::from(cfg.hold_time), |n| u32::from(n.hold_time)),
            route_reflector_client: cfg.route_reflector_client,
            passive: cfg.passive,
            established_count: stats.established_count,
            last_error: stats.last_error.clone().unwrap_or_default(),
        });
    }
    v1::ListNeighborsResponse { neighbors: out }
}
