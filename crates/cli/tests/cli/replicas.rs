//! Two `scimsync serve` processes on one PostgreSQL database, as replicas behind a load
//! balancer: what a client of either sees, over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use store::{Store, TenantId};

use crate::common::*;

#[path = "../../../store/tests/support/postgres.rs"]
mod pg;

const SCIM: &str = "application/scim+json";

/// Two replicas on a fresh database, the admin token of the first start, and a store on the
/// same database for looking at the change feed.
struct Replicas {
    a: Served,
    b: Served,
    token: String,
    client: Client,
    store: Arc<dyn Store>,
    tenant: TenantId,
    _db: pg::TestDb,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for s in [&mut self.a, &mut self.b] {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}

impl Replicas {
    async fn start() -> Replicas {
        let db = pg::TestDb::create().await;
        // One after the other: the first start creates the default tenant and its token.
        let a = serve_database(&db.url);
        let b = serve_database(&db.url);
        let token = a
            .first_token
            .clone()
            .expect("the first replica prints a token");
        assert!(
            b.first_token.is_none(),
            "the second replica finds the tenant"
        );
        let store = store::open(&db.url, Arc::new(scim::Registry::rfc7643()))
            .await
            .unwrap();
        let tenant = store.tenant("default").await.unwrap().unwrap().id;
        Replicas {
            a,
            b,
            token,
            client: Client::new(),
            store,
            tenant,
            _db: db,
        }
    }

    /// Replica 0 or 1.
    fn base(&self, i: usize) -> &str {
        if i.is_multiple_of(2) {
            &self.a.base
        } else {
            &self.b.base
        }
    }

    async fn send(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut r = self
            .client
            .request(method, format!("{}{path}", self.base(i)))
            .bearer_auth(&self.token)
            .header("Content-Type", SCIM);
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        if let Some(v) = if_match {
            r = r.header("If-Match", v);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let etag = resp
            .headers()
            .get("ETag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body, etag)
    }

    async fn create_user(&self, i: usize, name: &str) -> (StatusCode, Value, Option<String>) {
        self.send(
            i,
            reqwest::Method::POST,
            "/Users",
            Some(json!({"schemas": [scim::urn::USER], "userName": name})),
            None,
        )
        .await
    }
}

fn patch(path: &str, value: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": path, "value": value}],
    })
}

#[tokio::test]
async fn a_write_through_one_replica_is_read_through_the_other() {
    let r = Replicas::start().await;
    let (status, created, _) = r.create_user(0, "bjensen").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, got, _) = r
        .send(1, reqwest::Method::GET, &format!("/Users/{id}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["userName"], "bjensen");
    assert_eq!(got["meta"]["version"], created["meta"]["version"]);
    let (_, list, _) = r
        .send(
            1,
            reqwest::Method::GET,
            "/Users?filter=userName%20eq%20%22BJENSEN%22",
            None,
            None,
        )
        .await;
    assert_eq!(list["totalResults"], 1);
    // A change through the second is read through the first at once, too.
    let (status, _, _) = r
        .send(
            1,
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch("title", json!("Boss"))),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, got, _) = r
        .send(0, reqwest::Method::GET, &format!("/Users/{id}"), None, None)
        .await;
    assert_eq!(got["title"], "Boss");
    // Both report the shared database ready.
    for i in 0..2 {
        let ready = r
            .client
            .get(r.base(i).replace("/scim/v2", "/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn concurrent_patches_with_one_if_match_give_one_200_and_one_412() {
    let r = Replicas::start().await;
    for round in 0..10 {
        let (_, created, etag) = r.create_user(0, &format!("u{round}")).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let etag = etag.expect("ETag on create");
        let path = format!("/Users/{id}");
        let (x, y) = tokio::join!(
            r.send(
                0,
                reqwest::Method::PATCH,
                &path,
                Some(patch("title", json!("from a"))),
                Some(&etag)
            ),
            r.send(
                1,
                reqwest::Method::PATCH,
                &path,
                Some(patch("title", json!("from b"))),
                Some(&etag)
            ),
        );
        let mut statuses = [x.0, y.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
            "round {round}: {} / {}",
            x.1,
            y.1
        );
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name_give_one_201() {
    let r = Replicas::start().await;
    for round in 0..10 {
        let (lower, upper) = (format!("same{round}"), format!("SAME{round}"));
        let (x, y) = tokio::join!(r.create_user(0, &lower), r.create_user(1, &upper));
        let mut statuses = [x.0, y.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "round {round}: {} / {}",
            x.1,
            y.1
        );
        let conflict = if x.0 == StatusCode::CONFLICT {
            &x.1
        } else {
            &y.1
        };
        assert_eq!(conflict["scimType"], "uniqueness");
    }
    let (_, list, _) = r
        .send(0, reqwest::Method::GET, "/Users?count=0", None, None)
        .await;
    assert_eq!(list["totalResults"], 10);
}

#[tokio::test]
async fn membership_adds_through_both_replicas_lose_nothing() {
    let r = Arc::new(Replicas::start().await);
    let (_, group, _) = r
        .send(
            0,
            reqwest::Method::POST,
            "/Groups",
            Some(json!({"schemas": [scim::urn::GROUP], "displayName": "all"})),
            None,
        )
        .await;
    let gid = group["id"].as_str().unwrap().to_owned();
    let mut users = Vec::new();
    for i in 0..40 {
        let (_, u, _) = r.create_user(i, &format!("m{i}")).await;
        users.push(u["id"].as_str().unwrap().to_owned());
    }
    let mut tasks = Vec::new();
    for (i, uid) in users.iter().enumerate() {
        let (r, gid, uid) = (r.clone(), gid.clone(), uid.clone());
        tasks.push(tokio::spawn(async move {
            r.send(
                i,
                reqwest::Method::PATCH,
                &format!("/Groups/{gid}"),
                Some(patch("members", json!([{"value": uid}]))),
                None,
            )
            .await
            .0
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status.is_success(), "{status}");
    }
    let (_, got, _) = r
        .send(
            1,
            reqwest::Method::GET,
            &format!("/Groups/{gid}"),
            None,
            None,
        )
        .await;
    let mut members: Vec<String> = got["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    users.sort();
    assert_eq!(members, users);
    assert_eq!(got["meta"]["version"], "W/\"41\"");
}

/// The documented guarantee: per-tenant sequence numbers without gaps, in commit order, as
/// readers see them. A reader polling while both replicas write never sees a number before all
/// smaller ones, so a watermark can be the last number read.
#[tokio::test]
async fn the_change_feed_stays_gap_free_in_commit_order_under_two_writers() {
    let r = Arc::new(Replicas::start().await);
    let mut writers = Vec::new();
    for w in 0..4 {
        let r = r.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..25 {
                let (status, _, _) = r.create_user(w, &format!("w{w}u{i}")).await;
                assert_eq!(status, StatusCode::CREATED);
            }
        }));
    }
    let mut watermark = 0;
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "feed stalled at {watermark}"
        );
        let batch = r.store.changes(r.tenant, watermark, 1000).await.unwrap();
        for c in &batch {
            assert_eq!(c.seq, watermark + 1, "a gap after {watermark}");
            watermark = c.seq;
            seen += 1;
        }
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        r.store
            .changes(r.tenant, watermark, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `/readyz` asks the database: a replica whose database is gone says so, and `/healthz` (the
/// process is alive) does not.
#[tokio::test]
async fn readyz_reports_a_lost_database() {
    use sqlx::Connection;
    let r = Replicas::start().await;
    let ready = |i: usize, path: &'static str| {
        let url = r.base(i).replace("/scim/v2", path);
        let client = r.client.clone();
        async move { client.get(url).send().await.unwrap().status() }
    };
    assert_eq!(ready(0, "/readyz").await, StatusCode::OK);
    let mut admin = sqlx::PgConnection::connect(&pg::admin_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", r._db.name()))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(ready(0, "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready(1, "/healthz").await, StatusCode::OK);
}
