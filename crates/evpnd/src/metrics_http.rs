//! The metrics endpoint: a minimal HTTP/1.1 server (hyper) answering `GET /metrics` with the
//! Prometheus text of [`crate::metrics`], 404 for any other path, 405 for other methods.
//!
//! Each scrape asks the driver for a [`Snapshot`] over the request channel (bounded by
//! [`SNAPSHOT_TIMEOUT`]: a busy driver makes the scrape fail with 503, never the reverse) and
//! encodes it on this task.

use crate::control::Request;
use crate::metrics::{Exposition, Snapshot};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// How long a scrape waits for the driver's snapshot.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);

/// The OpenMetrics text format prometheus-client writes (Prometheus scrapes it as is).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` and serves the metrics endpoint on a task of its own.
pub async fn serve(
    addr: SocketAddr,
    requests: mpsc::UnboundedSender<Request>,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    info!(%addr, "serving Prometheus metrics at /metrics");
    let exposition = Arc::new(Exposition::default());
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    warn!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let requests = requests.clone();
            let exposition = Arc::clone(&exposition);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    answer(req, requests.clone(), Arc::clone(&exposition))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

fn plain(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

async fn answer(
    req: hyper::Request<Incoming>,
    requests: mpsc::UnboundedSender<Request>,
    exposition: Arc<Exposition>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(StatusCode::NOT_FOUND, "not found: try /metrics\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"));
    }
    let (tx, rx) = oneshot::channel::<Snapshot>();
    if requests.send(Request::Metrics(tx)).is_err() {
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is stopping\n",
        ));
    }
    let snapshot = match tokio::time::timeout(SNAPSHOT_TIMEOUT, rx).await {
        Ok(Ok(s)) => s,
        _ => {
            return Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the driver did not answer in time\n",
            ))
        }
    };
    Ok(match exposition.render(snapshot) {
        Ok(text) => {
            let mut r = Response::new(Full::new(Bytes::from(text)));
            if let Ok(v) = hyper::header::HeaderValue::from_str(CONTENT_TYPE) {
                r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
            }
            r
        }
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
    })
}
