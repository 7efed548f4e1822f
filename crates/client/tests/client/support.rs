//! Servers for the tests: the project's own SCIM server, and a scripted one that records every
//! request and answers what the test says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use client::{Client, ClientBuilder, FixedJitter, ManualClock, RetryPolicy};
use serde_json::{Value, json};
use server::{AppState, Limits};

/// The project's server on 127.0.0.1:0 with a fresh SQLite database and one tenant token.
pub struct OwnServer {
    pub base: String,
    pub token: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl OwnServer {
    pub async fn start() -> OwnServer {
        OwnServer::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> OwnServer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let registry = Arc::new(scim::Registry::rfc7643());
        let store = store::open(&format!("sqlite://{}", path.display()), registry.clone())
            .await
            .unwrap();
        let (token, _) = server::auth::issue_token(store.as_ref(), "t1", Some("test"))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(store, registry, limits);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(listener, state, async {
            let _ = rx.await;
        }));
        OwnServer {
            base: format!("http://{addr}/scim/v2"),
            token,
            _dir: dir,
            _stop: tx,
        }
    }

    pub fn client(&self) -> Client {
        Client::builder(&self.base)
            .bearer(&self.token)
            .build()
            .unwrap()
    }
}

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `METHOD /path?query`, the form assertions compare.
    pub fn line(&self) -> String {
        match &self.query {
            Some(q) => format!("{} {}?{q}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// What the scripted server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/scim+json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn error(status: u16, scim_type: Option<&str>, detail: &str) -> Reply {
        let mut body = json!({
            "schemas": [scim::urn::ERROR],
            "status": status.to_string(),
            "detail": detail,
        });
        if let Some(t) = scim_type {
            body["scimType"] = json!(t);
        }
        Reply::json(status, body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type Script = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

#[derive(Clone)]
struct ScriptState {
    script: Arc<Script>,
    log: Arc<Mutex<Vec<Recorded>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

/// A scripted server. The script gets each request and how many requests with the same
/// method and path came before it.
pub struct Scripted {
    pub base: String,
    state: ScriptState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Scripted {
    pub async fn start(
        script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Scripted::on(listener, script)
    }

    pub fn on(
        listener: tokio::net::TcpListener,
        script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Scripted {
        let addr = listener.local_addr().unwrap();
        let state = ScriptState {
            script: Arc::new(script),
            log: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Scripted {
            base: format!("http://{addr}/scim/v2"),
            state,
            _stop: tx,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log.lock().unwrap().clone()
    }

    /// `METHOD /path?query` of every request, in order.
    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::line).collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// A client with a manual clock and no jitter, so every delay is exact and instant.
    pub fn client(&self) -> (ClientBuilder, ManualClock) {
        let clock = ManualClock::new();
        let b = Client::builder(&self.base)
            .bearer("secret")
            .clock(Arc::new(clock.clone()))
            .jitter(Arc::new(FixedJitter(0.0)))
            .retry(RetryPolicy {
                max_retries: 3,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(5),
                max_retry_after: Duration::from_secs(60),
            })
            .request_timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2));
        (b, clock)
    }
}

async fn handle(State(state): State<ScriptState>, req: Request) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    let reply = {
        let mut log = state.log.lock().unwrap();
        let before = log
            .iter()
            .filter(|r| r.method == recorded.method && r.path == recorded.path)
            .count();
        log.push(recorded.clone());
        (state.script)(&recorded, before)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut res = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (n, v) in &reply.headers {
        res = res.header(n, v);
    }
    res.body(Body::from(reply.body)).unwrap()
}

/// A ServiceProviderConfig document.
pub fn spc(patch: bool, bulk: Option<(u64, u64)>, cursor: bool) -> Value {
    let mut doc = json!({
        "schemas": [scim::urn::SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": patch},
        "bulk": {"supported": bulk.is_some(), "maxOperations": bulk.map_or(0, |b| b.0), "maxPayloadSize": bulk.map_or(0, |b| b.1)},
        "filter": {"supported": true, "maxResults": 200},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [],
    });
    if cursor {
        doc["pagination"] = json!({"cursor": true, "index": true});
    }
    doc
}

pub fn user(id: &str, user_name: &str) -> Value {
    json!({
        "schemas": [scim::urn::USER],
        "id": id,
        "userName": user_name,
        "meta": {"resourceType": "User", "version": "W/\"1\""},
    })
}
