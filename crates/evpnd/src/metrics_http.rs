//! The metrics endpoint: a minimal HTTP/1.1 server (hyper) answering `GET /metrics` with the
//! Prometheus text of [`crate::metrics`], 404 for any other path, 405 for other methods.
//!
//! A scrape asks the driver for a [`Snapshot`] over the request channel (bounded by
//! [`SNAPSHOT_TIMEOUT`]: a busy driver makes the scrape fail with 503, never the reverse) and
//! encodes it on this task. Scrapes less than [`SNAPSHOT_REUSE`] apart share one snapshot, so
//! the driver's table walk runs at most once a second whoever scrapes.

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

/// Scrapes closer together than this share one snapshot: however many scrapers there are, the
/// driver walks its tables at most once per interval.
const SNAPSHOT_REUSE: Duration = Duration::from_secs(1);

/// The exposition and the last snapshot with when it was taken.
struct Shared {
    exposition: Exposition,
    last: tokio::sync::Mutex<Option<(std::time::Instant, Snapshot)>>,
}

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
    let shared = Arc::new(Shared {
        exposition: Exposition::default(),
        last: tokio::sync::Mutex::new(None),
    });
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
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    answer(req, requests.clone(), Arc::clone(&shared))
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
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(StatusCode::NOT_FOUND, "not found: try /metrics\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"));
    }
    // One scrape at a time asks the driver; the others wait for it and reuse its snapshot.
    let mut last = shared.last.lock().await;
    let snapshot = match last.as_ref() {
        Some((at, s)) if at.elapsed() < SNAPSHOT_REUSE => s.clone(),
        _ => {
            let (tx, rx) = oneshot::channel::<Snapshot>();
            if requests.send(Request::Metrics(tx)).is_err() {
                return Ok(plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the daemon is stopping\n",
                ));
            }
            match tokio::time::timeout(SNAPSHOT_TIMEOUT, rx).await {
                Ok(Ok(s)) => {
                    *last = Some((std::time::Instant::now(), s.clone()));
                    s
                }
                _ => {
                    return Ok(plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the driver did not answer in time\n",
                    ))
                }
            }
        }
    };
    drop(last);
    Ok(match shared.exposition.render(snapshot) {
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
