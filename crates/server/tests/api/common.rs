use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use server::{AppState, Limits};

pub const SCIM: &str = "application/scim+json";

/// A running server with its own database and one tenant token.
pub struct TestServer {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn store::Store>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> TestServer {
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
        let state = AppState::new(store.clone(), registry, limits);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(listener, state, async {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}/scim/v2"),
            token,
            client: reqwest::Client::new(),
            store,
            _dir: dir,
            _stop: tx,
        }
    }

    /// A token for another tenant of the same server.
    pub async fn token_for(&self, tenant: &str) -> String {
        server::auth::issue_token(self.store.as_ref(), tenant, None)
            .await
            .unwrap()
            .0
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.req_as(&self.token, method, path)
    }

    pub fn req_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token)
            .header("Content-Type", SCIM)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        split(r.send().await.unwrap()).await
    }

    pub async fn create_user(&self, user_name: &str) -> Value {
        let (s, body) = self
            .send(
                Method::POST,
                "/Users",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "active": true,
                    "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
                })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn create_group(&self, name: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (s, body) = self
            .send(
                Method::POST,
                "/Groups",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "members": members,
                })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }
}

pub async fn split(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Asserts an RFC 7644 error body.
pub fn assert_error(body: &Value, status: u16, scim_type: Option<&str>) {
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert_eq!(body["status"], json!(status.to_string()), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

pub fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

pub fn member_ids(group: &Value) -> Vec<String> {
    let mut v: Vec<String> = group["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
