//! The directory's HTTP face: the SCIM 2.0 service provider at `/scim/v2`, plus `/healthz`
//! and `/readyz`.
//!
//! Handlers are thin: they parse the request, call [`service`] (which also serves Bulk, so a
//! Bulk operation behaves exactly like the single request it stands for), and render. All SCIM
//! logic lives in the `scim` crate and all persistence behind the `store::Store` trait.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use scim::Registry;
use store::Store;

pub mod auth;
pub mod body;
pub mod error;
pub mod render;
mod routes;
pub mod service;

pub use error::ApiError;

/// The media type of every SCIM body we send (RFC 7644 §3.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// Limits and defaults that shape what the server accepts and advertises.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body on resource endpoints, in bytes.
    pub max_body_bytes: usize,
    /// Page size when the client gives no `count`.
    pub default_page_size: u64,
    /// Largest page; also advertised as `filter.maxResults`.
    pub max_page_size: u64,
    /// Bulk `maxOperations`.
    pub bulk_max_operations: usize,
    /// Bulk `maxPayloadSize`, in bytes.
    pub bulk_max_payload: usize,
    /// Most operations in one PATCH request (413 above).
    pub max_patch_operations: usize,
    /// Longest filter, in bytes; also the longest PATCH path. At most
    /// [`Limits::FILTER_LENGTH_CEILING`].
    pub max_filter_length: usize,
    /// Deepest nesting of brackets, `not` and value paths in a filter or PATCH path. At most
    /// [`Limits::FILTER_DEPTH_CEILING`].
    pub max_filter_depth: usize,
    /// Longest string value a resource may hold (string, reference, binary, dateTime), in
    /// bytes.
    pub max_value_bytes: usize,
    /// Most values in one multi-valued attribute of a resource.
    pub max_multi_values: usize,
    /// Time allowed to handle a whole request, body included (408 after it).
    pub request_timeout: Duration,
    /// Time allowed to receive a request's headers; a client that trickles them is cut off.
    pub header_timeout: Duration,
    /// Open connections allowed from one IP address; more are closed at once.
    pub max_connections_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // The protocol crate's defaults, so that a server and a plain `Filter::parse` agree.
        let filter = scim::filter::Limits::default();
        let values = scim::validate::Limits::default();
        Limits {
            max_body_bytes: 1024 * 1024,
            default_page_size: 100,
            max_page_size: 1000,
            bulk_max_operations: 1000,
            bulk_max_payload: 4 * 1024 * 1024,
            max_patch_operations: scim::messages::MAX_PATCH_OPERATIONS,
            max_filter_length: filter.max_len,
            max_filter_depth: filter.max_depth,
            max_value_bytes: values.max_value_bytes,
            max_multi_values: values.max_multi_values,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections_per_client: 256,
        }
    }
}

impl Limits {
    /// The highest `max_filter_length` that is safe, and the default. A chain of `or`s is
    /// parsed in a loop but is a tree as deep as it is long, and checking, evaluating and
    /// translating a filter to SQL recurse once per level: 8 KiB of `id pr or …` is some 900
    /// levels, near what a 2 MiB stack and SQLite's expression depth (1,000) allow.
    pub const FILTER_LENGTH_CEILING: usize = 8192;
    /// The highest `max_filter_depth` that is safe together with the longest filter: nesting
    /// adds to the depth of a chain inside it.
    pub const FILTER_DEPTH_CEILING: usize = 64;

    /// The bounds on filters and PATCH paths, as the parser takes them.
    pub fn filter(&self) -> scim::filter::Limits {
        scim::filter::Limits {
            max_len: self.max_filter_length,
            max_depth: self.max_filter_depth,
        }
    }

    /// The bounds on resource values, as validation and PATCH take them.
    pub fn values(&self) -> scim::validate::Limits {
        scim::validate::Limits {
            max_value_bytes: self.max_value_bytes,
            max_multi_values: self.max_multi_values,
        }
    }
}

/// Shared state of every request: one `Arc`, because every handler and middleware clones it,
/// and each clone of a struct of `Arc`s was one atomic increment (and decrement) per field on
/// cache lines both cores write.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
#[derive(Debug, Clone)]
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub limits: Arc<Limits>,
    /// Base URL for `Location` and `meta.location` when configured; otherwise derived from the
    /// request's `Host`.
    pub base_url: Option<Arc<str>>,
    /// Per resource type id, what a default response needs (see [`render::TypeInfo`]), worked
    /// out once from the registry.
    types: Arc<std::collections::HashMap<String, render::TypeInfo>>,
    /// Tokens recently found live (see [`auth::TOKEN_CACHE_TTL`]).
    tokens: Arc<auth::TokenCache>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>, limits: Limits) -> AppState {
        AppState(Arc::new(Shared {
            types: Arc::new(render::type_infos(&registry)),
            tokens: Arc::default(),
            store,
            registry,
            limits: Arc::new(limits),
            base_url: None,
        }))
    }

    /// The same state with `base_url` set.
    pub fn with_base_url(self, base_url: Option<Arc<str>>) -> AppState {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.base_url = base_url;
        AppState(Arc::new(shared))
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let timeout = state.limits.request_timeout;
    routes::router(state).layer(middleware::from_fn(move |req: Request, next: Next| {
        outermost(req, next, timeout)
    }))
}

/// What wraps every request, in one layer (three separate layers each cost a boxed service
/// clone and a future per request): a time limit (408 after it), a handler panic answered as
/// a SCIM 500 instead of a dropped connection, and one structured line per request: tenant,
/// method, route, status, latency. Never the token and never the body.
async fn outermost(req: Request, next: Next, timeout: Duration) -> Response {
    use axum::response::IntoResponse;
    use futures::FutureExt;
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let run = std::panic::AssertUnwindSafe(next.run(req)).catch_unwind();
    let res = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(res)) => res,
        Ok(Err(_)) => ApiError::Internal("handler panicked".into()).into_response(),
        Err(_) => ApiError::RequestTimeout(format!(
            "the request took longer than the server's request timeout ({} s); retry it, or \
             send less per request",
            timeout.as_secs()
        ))
        .into_response(),
    };
    let tenant = res
        .extensions()
        .get::<auth::Caller>()
        .map(|c| c.tenant.0)
        .unwrap_or(0);
    tracing::info!(
        target: "scimsync::request",
        tenant,
        method = %method,
        route = route.as_ref().map_or("unmatched", MatchedPath::as_str),
        status = res.status().as_u16(),
        latency_us = start.elapsed().as_micros() as u64,
    );
    res
}

/// Serves the application on `listener` until `shutdown` resolves, then stops accepting and
/// drains in-flight requests.
///
/// The accept loop is ours rather than `axum::serve` because two defences need the connection:
/// a header read timeout (a client sending one byte a second is cut off) and a cap on
/// connections per client address.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let limits = state.limits.clone();
    let service = TowerToHyperService::new(app(state));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let per_client = ConnectionCounter::default();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(guard) = per_client.acquire(peer.ip(), limits.max_connections_per_client) else {
            tracing::warn!(client = %peer.ip(), "too many connections from one client; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service.clone())
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(guard);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Open connections per client address.
#[derive(Debug, Default, Clone)]
struct ConnectionCounter(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

impl ConnectionCounter {
    fn acquire(&self, ip: std::net::IpAddr, max: usize) -> Option<ConnectionGuard> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ConnectionGuard {
            counter: self.clone(),
            ip,
        })
    }
}

#[derive(Debug)]
struct ConnectionGuard {
    counter: ConnectionCounter,
    ip: std::net::IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut map = self.counter.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn call(path: &str) -> (u16, String) {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route("/panic", get(panics))
            .route("/ok", get(|| async { "fine" }))
            .layer(middleware::from_fn(|req: Request, next: Next| {
                outermost(req, next, Duration::from_millis(50))
            }));
        let res = app
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn panics() -> &'static str {
        panic!("a handler bug")
    }

    #[tokio::test]
    async fn every_request_is_bounded_in_time_and_survives_a_panic() {
        assert_eq!(call("/ok").await, (200, "fine".to_owned()));
        let started = std::time::Instant::now();
        let (status, body) = call("/slow").await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(status, 408);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"], "408", "a SCIM error body: {body}");
        let (status, body) = call("/panic").await;
        assert_eq!(status, 500);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"], "500", "a SCIM error body: {body}");
    }
}
