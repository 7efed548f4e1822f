//! Misbehaving and limited servers: what the client sends, how often, and how long it waits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::{
    Auth, Client, ClientCredentials, Clock, Error, FixedJitter, ManualClock, Query, clock::Sleep,
};
use futures::TryStreamExt;
use scim::ScimType;
use scim::messages::{BulkMethod, BulkOperation, PatchOperation, PatchRequest};
use serde_json::{Value, json};

use crate::support::{Reply, Scripted, spc, user};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn throttled_request_waits_for_retry_after() {
    let s = Scripted::start(|r, n| match (r.path.as_str(), n) {
        ("/scim/v2/Users/1", 0) => Reply::error(429, None, "slow down").header("Retry-After", "3"),
        ("/scim/v2/Users/1", _) => Reply::json(200, user("1", "ann")),
        _ => Reply::empty(404),
    })
    .await;
    let (b, clock) = s.client();
    let c = b.build().unwrap();
    let got = c.users().get("1").await.unwrap();
    assert_eq!(got["userName"], "ann");
    assert_eq!(s.lines(), ["GET /scim/v2/Users/1", "GET /scim/v2/Users/1"]);
    assert_eq!(clock.sleeps(), [Duration::from_secs(3)]);
}

#[tokio::test]
async fn retry_after_beyond_the_limit_is_a_throttled_error() {
    let s = Scripted::start(|_, _| {
        Reply::error(429, None, "come back in an hour").header("Retry-After", "3600")
    })
    .await;
    let (b, clock) = s.client();
    let err = b.build().unwrap().users().get("1").await.unwrap_err();
    match &err {
        Error::Throttled {
            retry_after,
            rejection,
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
            assert_eq!(rejection.detail(), Some("come back in an hour"));
        }
        e => panic!("{e:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(s.lines().len(), 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn throttling_holds_back_every_request_to_the_target() {
    let s = Scripted::start(|r, n| match (r.path.as_str(), n) {
        ("/scim/v2/Users/1", 0) => Reply::empty(429).header("Retry-After", "2"),
        _ => Reply::json(200, user("x", "x")),
    })
    .await;
    let (b, clock) = s.client();
    let c = b.build().unwrap();
    c.users().get("1").await.unwrap();
    // The block set by the 429 lies in the past now; a later request is not delayed.
    c.users().get("2").await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(2)]);
}

#[tokio::test]
async fn get_is_retried_after_a_500_with_backoff() {
    let s = Scripted::start(|_, n| match n {
        0 => Reply::error(500, None, "oops"),
        1 => Reply::empty(502),
        _ => Reply::json(200, user("1", "ann")),
    })
    .await;
    let (b, clock) = s.client();
    b.build().unwrap().users().get("1").await.unwrap();
    assert_eq!(s.lines().len(), 3);
    // base 100 ms, equal jitter at 0: 50 ms, then 100 ms.
    assert_eq!(clock.sleeps(), [ms(50), ms(100)]);
}

#[tokio::test]
async fn jitter_spreads_the_backoff() {
    let s = Scripted::start(|_, n| match n {
        0 | 1 => Reply::empty(503),
        _ => Reply::json(200, user("1", "ann")),
    })
    .await;
    let (b, clock) = s.client();
    let c = b.jitter(Arc::new(FixedJitter(0.5))).build().unwrap();
    c.users().get("1").await.unwrap();
    assert_eq!(clock.sleeps(), [ms(75), ms(150)]);
}

#[tokio::test]
async fn retries_give_up_with_a_typed_error() {
    let s = Scripted::start(|_, _| Reply::error(500, None, "still broken")).await;
    let (b, clock) = s.client();
    let err = b.build().unwrap().users().get("1").await.unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(err.detail(), Some("still broken"));
    assert_eq!(s.lines().len(), 4, "one try and three retries");
    assert_eq!(clock.sleeps(), [ms(50), ms(100), ms(200)]);
}

#[tokio::test]
async fn post_is_not_retried_after_a_500() {
    let s = Scripted::start(|_, _| {
        // Status as a number, as some servers send it.
        Reply::json(
            500,
            json!({"schemas": [scim::urn::ERROR], "status": 500, "detail": "db down"}),
        )
    })
    .await;
    let (b, clock) = s.client();
    let err = b
        .build()
        .unwrap()
        .users()
        .create(&user("", "ann"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.detail(), Some("db down"));
    assert_eq!(s.lines(), ["POST /scim/v2/Users"]);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn post_503_is_retried_only_with_retry_after() {
    let s = Scripted::start(|_, _| Reply::empty(503)).await;
    let (b, _) = s.client();
    let err = b
        .build()
        .unwrap()
        .users()
        .create(&user("", "a"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transient { .. }), "{err:?}");
    assert_eq!(s.lines().len(), 1);

    let s = Scripted::start(|_, n| match n {
        0 => Reply::empty(503).header("Retry-After", "1"),
        _ => Reply::json(201, user("1", "a")),
    })
    .await;
    let (b, clock) = s.client();
    b.build()
        .unwrap()
        .users()
        .create(&user("", "a"))
        .await
        .unwrap();
    assert_eq!(s.lines().len(), 2);
    assert_eq!(clock.sleeps(), [Duration::from_secs(1)]);
}

/// A clock that starts the server on the first sleep: the first attempt finds nothing
/// listening, the retry finds the server.
struct StartOnSleep {
    clock: ManualClock,
    port: u16,
    server: Arc<Mutex<Option<Scripted>>>,
}

impl std::fmt::Debug for StartOnSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartOnSleep")
            .field("port", &self.port)
            .finish()
    }
}

impl Clock for StartOnSleep {
    fn now(&self) -> std::time::Instant {
        self.clock.now()
    }
    fn system_time(&self) -> std::time::SystemTime {
        self.clock.system_time()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let mut server = self.server.lock().unwrap();
        if server.is_none() {
            let l = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
            l.set_nonblocking(true).unwrap();
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            *server = Some(Scripted::on(l, |_, _| Reply::json(201, user("1", "ann"))));
        }
        self.clock.sleep(d)
    }
}

#[tokio::test]
async fn post_is_retried_when_the_connection_was_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clock = ManualClock::new();
    let server = Arc::new(Mutex::new(None));
    let c = Client::builder(format!("http://127.0.0.1:{port}/scim/v2"))
        .clock(Arc::new(StartOnSleep {
            clock: clock.clone(),
            port,
            server: server.clone(),
        }))
        .jitter(Arc::new(FixedJitter(0.0)))
        .build()
        .unwrap();
    let created = c.users().create(&user("", "ann")).await.unwrap();
    assert_eq!(created["id"], "1");
    let lines = server.lock().unwrap().as_ref().unwrap().lines();
    assert_eq!(
        lines,
        ["POST /scim/v2/Users"],
        "sent once: the refused try never arrived"
    );
    assert_eq!(clock.sleeps(), [ms(125)]);
}

#[tokio::test]
async fn timeouts_retry_get_but_not_post() {
    let s = Scripted::start(|r, n| {
        let reply = if r.method == "POST" {
            Reply::json(201, user("1", "ann"))
        } else {
            Reply::json(200, user("1", "ann"))
        };
        if n == 0 {
            reply.delay(Duration::from_secs(3))
        } else {
            reply
        }
    })
    .await;
    let (b, clock) = s.client();
    let c = b.request_timeout(ms(300)).build().unwrap();
    c.users().get("1").await.unwrap();
    assert_eq!(s.lines(), ["GET /scim/v2/Users/1", "GET /scim/v2/Users/1"]);
    assert_eq!(clock.sleeps(), [ms(50)]);

    let err = c.users().create(&user("", "ann")).await.unwrap_err();
    assert!(matches!(err, Error::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    let posts = s.lines().iter().filter(|l| l.starts_with("POST")).count();
    assert_eq!(
        posts, 1,
        "a POST that may have been acted on is not repeated"
    );
}

#[tokio::test]
async fn patch_answered_204_without_a_body() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/ServiceProviderConfig" => Reply::json(200, spc(true, None, false)),
        _ => Reply::empty(204),
    })
    .await;
    let (b, _) = s.client();
    let c = b.build().unwrap();
    let old = json!({"userName": "ann", "active": true, "title": "x"});
    let new = json!({"userName": "ann", "active": false});
    let answer = c
        .users()
        .update("1", &old, &new, Some("W/\"4\""))
        .await
        .unwrap();
    assert!(answer.is_none());
    let reqs = s.requests();
    assert_eq!(
        s.lines(),
        [
            "GET /scim/v2/ServiceProviderConfig",
            "PATCH /scim/v2/Users/1"
        ]
    );
    let patch = &reqs[1];
    assert_eq!(
        patch.json(),
        json!({
            "schemas": [scim::urn::PATCH_OP],
            "Operations": [
                {"op": "remove", "path": "title"},
                {"op": "replace", "path": "active", "value": false},
            ]
        })
    );
    assert_eq!(patch.header("content-type"), Some("application/scim+json"));
    assert_eq!(patch.header("if-match"), Some("W/\"4\""));
    assert_eq!(patch.header("authorization"), Some("Bearer secret"));

    // Nothing changed: nothing sent.
    assert!(
        c.users()
            .update("1", &new, &new, None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.lines().len(), 2);
}

#[tokio::test]
async fn without_patch_updates_are_put() {
    let group = json!({
        "schemas": [scim::urn::GROUP], "id": "g1", "displayName": "eng",
        "meta": {"resourceType": "Group", "version": "W/\"7\""},
    });
    let members = json!([{"value": "a"}, {"value": "b"}]);
    let s = Scripted::start(move |r, _| match (r.method.as_str(), r.path.as_str()) {
        (_, "/scim/v2/ServiceProviderConfig") => Reply::json(200, spc(false, None, false)),
        ("GET", "/scim/v2/Groups/g1") if r.query.as_deref() == Some("attributes=members") => {
            Reply::json(
                200,
                json!({"schemas": [scim::urn::GROUP], "id": "g1", "members": members}),
            )
        }
        // Like AWS: no members unless asked for.
        ("GET", "/scim/v2/Groups/g1") => Reply::json(200, group.clone()).header("ETag", "W/\"7\""),
        ("PUT", _) => Reply::json(200, r.json()),
        _ => Reply::empty(404),
    })
    .await;
    let (b, _) = s.client();
    let c = b.build().unwrap();

    let add_c = PatchRequest::new(vec![PatchOperation::add(
        Some("members"),
        json!([{"value": "c"}]),
    )]);
    let updated = c.groups().patch("g1", &add_c, None).await.unwrap().unwrap();
    assert_eq!(
        updated["members"],
        json!([{"value": "a"}, {"value": "b"}, {"value": "c"}])
    );
    assert_eq!(
        s.lines(),
        [
            "GET /scim/v2/ServiceProviderConfig",
            "GET /scim/v2/Groups/g1",
            "GET /scim/v2/Groups/g1?attributes=members",
            "PUT /scim/v2/Groups/g1",
        ]
    );
    let put = &s.requests()[3];
    assert_eq!(put.header("if-match"), Some("W/\"7\""));
    assert_eq!(put.json()["displayName"], "eng");
    assert_eq!(put.json()["members"].as_array().unwrap().len(), 3);

    // A diff-based update is a PUT of the new resource, without a GET.
    let old = json!({"schemas": [scim::urn::USER], "userName": "ann", "active": true});
    let new = json!({"schemas": [scim::urn::USER], "userName": "ann", "active": false});
    c.users().update("u1", &old, &new, None).await.unwrap();
    let last = s.requests().pop().unwrap();
    assert_eq!(last.line(), "PUT /scim/v2/Users/u1");
    assert_eq!(last.json(), new);
}

fn bulk_echo(r: &crate::support::Recorded) -> Reply {
    let ops = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let answers: Vec<Value> = ops
        .iter()
        .map(|op| {
            let bulk_id = op["bulkId"].as_str().unwrap_or("");
            json!({
                "method": op["method"],
                "bulkId": op["bulkId"],
                "location": format!("https://t/scim/v2/Users/id-{bulk_id}"),
                "status": "201",
            })
        })
        .collect();
    Reply::json(
        200,
        json!({"schemas": [scim::urn::BULK_RESPONSE], "Operations": answers}),
    )
}

fn post(bulk_id: &str, data: Value) -> BulkOperation {
    BulkOperation {
        method: BulkMethod::Post,
        bulk_id: Some(bulk_id.into()),
        version: None,
        path: "/Users".into(),
        data: Some(data),
    }
}

#[tokio::test]
async fn bulk_requests_respect_max_operations_and_payload() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/ServiceProviderConfig" => Reply::json(200, spc(true, Some((3, 700)), false)),
        "/scim/v2/Bulk" => bulk_echo(r),
        "/scim/v2/Users" => Reply::json(201, user("big", "big")),
        _ => Reply::empty(404),
    })
    .await;
    let (b, _) = s.client();
    let c = b.build().unwrap();
    let mut ops: Vec<BulkOperation> = (0..7)
        .map(|i| post(&format!("u{i}"), json!({"userName": format!("user{i}")})))
        .collect();
    // Refers to a user created in the first request.
    ops.push(BulkOperation {
        method: BulkMethod::Patch,
        bulk_id: None,
        version: None,
        path: "/Users/bulkId:u0".into(),
        data: Some(json!({"Operations": [{"op": "replace", "path": "title", "value": "boss"}]})),
    });
    // Too big for any Bulk request: sent on its own.
    ops.push(post(
        "big",
        json!({"userName": "big", "title": "x".repeat(800)}),
    ));
    let results = c.bulk(ops, None).await.unwrap();
    assert_eq!(results.len(), 9);
    let ids: Vec<Option<String>> = results
        .iter()
        .map(|r| r.outcome.as_ref().unwrap().id.clone())
        .collect();
    assert_eq!(ids[0].as_deref(), Some("id-u0"));
    assert_eq!(ids[8].as_deref(), Some("big"));

    let bulks: Vec<_> = s
        .requests()
        .into_iter()
        .filter(|r| r.path == "/scim/v2/Bulk")
        .collect();
    let sizes: Vec<usize> = bulks
        .iter()
        .map(|r| r.json()["Operations"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [3, 3, 2]);
    assert!(
        bulks.iter().all(|r| r.body.len() <= 700),
        "{:?}",
        bulks.iter().map(|r| r.body.len()).collect::<Vec<_>>()
    );
    let last = bulks[2].json();
    assert_eq!(last["Operations"][1]["path"], "/Users/id-u0");
    assert_eq!(
        s.lines().last().map(String::as_str),
        Some("POST /scim/v2/Users")
    );
}

#[tokio::test]
async fn bulk_operation_errors_are_typed() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/ServiceProviderConfig" => Reply::json(200, spc(true, Some((10, 100_000)), false)),
        _ => Reply::json(200, json!({"schemas": [scim::urn::BULK_RESPONSE], "Operations": [
            {"method": "POST", "bulkId": "a", "status": "201", "location": "https://t/Users/1"},
            {"method": "POST", "bulkId": "b", "status": "409", "response": {
                "schemas": [scim::urn::ERROR], "status": "409", "scimType": "uniqueness", "detail": "userName taken"}},
        ]})),
    })
    .await;
    let (b, _) = s.client();
    let results = b
        .build()
        .unwrap()
        .bulk(
            vec![
                post("a", json!({"userName": "a"})),
                post("b", json!({"userName": "b"})),
                post("c", json!({"userName": "c"})),
            ],
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].outcome.as_ref().unwrap().id.as_deref(),
        Some("1")
    );
    let e = results[1].outcome.as_ref().unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    assert_eq!(e.scim_type(), Some(ScimType::Uniqueness));
    assert_eq!(e.detail(), Some("userName taken"));
    // Not in the response: the server stopped at failOnErrors.
    assert!(matches!(results[2].outcome, Err(Error::Transient { .. })));
    assert_eq!(s.requests()[1].json()["failOnErrors"], 1);
}

#[tokio::test]
async fn without_bulk_operations_go_one_by_one() {
    let s = Scripted::start(|r, n| match (r.method.as_str(), r.path.as_str()) {
        (_, "/scim/v2/ServiceProviderConfig") => Reply::json(200, spc(true, None, false)),
        ("POST", "/scim/v2/Users") => Reply::json(201, user(&format!("n{n}"), "x")),
        ("PATCH", _) => Reply::empty(204),
        ("DELETE", _) => Reply::empty(204),
        _ => Reply::empty(404),
    })
    .await;
    let (b, _) = s.client();
    let c = b.build().unwrap();
    let ops = vec![
        post("a", json!({"userName": "a"})),
        post("b", json!({"userName": "b"})),
        BulkOperation {
            method: BulkMethod::Patch,
            bulk_id: None,
            version: None,
            path: "/Users/bulkId:b".into(),
            data: Some(
                json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            ),
        },
        BulkOperation {
            method: BulkMethod::Delete,
            bulk_id: None,
            version: None,
            path: "/Users/old".into(),
            data: None,
        },
    ];
    let results = c.bulk(ops, None).await.unwrap();
    assert!(results.iter().all(|r| r.outcome.is_ok()), "{results:?}");
    assert_eq!(
        s.lines(),
        [
            "GET /scim/v2/ServiceProviderConfig",
            "POST /scim/v2/Users",
            "POST /scim/v2/Users",
            "PATCH /scim/v2/Users/n1",
            "DELETE /scim/v2/Users/old",
        ]
    );
}

#[tokio::test]
async fn lists_from_a_lenient_server() {
    // application/json, no itemsPerPage, startIndex as a string, pages of 2 whatever count
    // asks for.
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/ServiceProviderConfig" => Reply::json(200, spc(true, None, false)),
        _ => {
            let start: usize = r
                .query
                .as_deref()
                .unwrap_or("")
                .split('&')
                .find_map(|p| p.strip_prefix("startIndex="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let items: Vec<Value> = (start..(start + 2).min(6))
                .map(|i| user(&i.to_string(), &format!("u{i}")))
                .collect();
            Reply::json(
                200,
                json!({"schemas": [scim::urn::LIST_RESPONSE], "totalResults": 5, "startIndex": start.to_string(), "Resources": items}),
            )
            .header("content-type", "application/json; charset=utf-8")
        }
    })
    .await;
    let (b, _) = s.client();
    let c = b.page_size(500).build().unwrap();
    let filter = client::filter::attr("userName").unwrap().sw("u");
    let users: Vec<Value> = c
        .users()
        .list(Query::new().filter(&filter))
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(
        s.lines()[1..],
        [
            "GET /scim/v2/Users?filter=userName+sw+%22u%22&startIndex=1&count=200",
            "GET /scim/v2/Users?filter=userName+sw+%22u%22&startIndex=3&count=200",
            "GET /scim/v2/Users?filter=userName+sw+%22u%22&startIndex=5&count=200",
        ],
        "count is capped by filter.maxResults; paging follows what came back"
    );
}

#[tokio::test]
async fn a_server_that_ignores_start_index_does_not_loop_forever() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/ServiceProviderConfig" => Reply::empty(404),
        _ => Reply::json(
            200,
            json!({"totalResults": 10, "Resources": [user("1", "a"), user("2", "b")]}),
        ),
    })
    .await;
    let (b, _) = s.client();
    let err = b
        .build()
        .unwrap()
        .users()
        .list(Query::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
    assert_eq!(s.lines().len(), 3);
}

#[tokio::test]
async fn cursor_paging_where_offered() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/ServiceProviderConfig" => Reply::json(200, spc(true, None, true)),
        _ => match r.query.as_deref() {
            Some("count=2&cursor=") => Reply::json(
                200,
                json!({"totalResults": 3, "itemsPerPage": 2, "nextCursor": "c/2", "Resources": [user("1", "a"), user("2", "b")]}),
            ),
            Some("count=2&cursor=c%2F2") => Reply::json(
                200,
                json!({"totalResults": 3, "itemsPerPage": 1, "Resources": [user("3", "c")]}),
            ),
            _ => Reply::error(400, Some("invalidCursor"), "unexpected query"),
        },
    })
    .await;
    let (b, _) = s.client();
    let users: Vec<Value> = b
        .build()
        .unwrap()
        .users()
        .list(Query::new().page_size(2))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), 3);
    assert_eq!(
        s.lines()[1..],
        [
            "GET /scim/v2/Users?count=2&cursor=",
            "GET /scim/v2/Users?count=2&cursor=c%2F2"
        ]
    );
}

#[tokio::test]
async fn oauth_client_credentials() {
    let tokens = Arc::new(Mutex::new(0u32));
    let t = tokens.clone();
    let s = Scripted::start(move |r, _| match r.path.as_str() {
        "/token" => {
            let mut n = t.lock().unwrap();
            *n += 1;
            Reply::json(
                200,
                json!({"access_token": format!("t{n}"), "token_type": "Bearer", "expires_in": 120}),
            )
        }
        // The second token is revoked behind the client's back once.
        _ if r.header("authorization") == Some("Bearer t2") => {
            Reply::error(401, None, "token revoked")
        }
        _ => Reply::json(200, user("1", "ann")),
    })
    .await;
    let token_url = s.base.replace("/scim/v2", "/token");
    let (b, clock) = s.client();
    let c = b
        .auth(Auth::OAuth2(
            ClientCredentials::new(token_url, "app", "s3cret").with_scope("scim.read scim.write"),
        ))
        .build()
        .unwrap();
    c.users().get("1").await.unwrap();
    c.users().get("1").await.unwrap();
    // 61 s later the token expires within the 60 s margin: a new one is fetched first.
    clock.advance(Duration::from_secs(61));
    c.users().get("1").await.unwrap();

    let reqs = s.requests();
    let seen: Vec<(String, Option<&str>)> = reqs
        .iter()
        .map(|r| (r.line(), r.header("authorization")))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST /token".to_owned(), Some("Basic YXBwOnMzY3JldA==")),
            ("GET /scim/v2/Users/1".to_owned(), Some("Bearer t1")),
            ("GET /scim/v2/Users/1".to_owned(), Some("Bearer t1")),
            ("POST /token".to_owned(), Some("Basic YXBwOnMzY3JldA==")),
            ("GET /scim/v2/Users/1".to_owned(), Some("Bearer t2")),
            ("POST /token".to_owned(), Some("Basic YXBwOnMzY3JldA==")),
            ("GET /scim/v2/Users/1".to_owned(), Some("Bearer t3")),
        ]
    );
    assert_eq!(
        reqs[0].body,
        "grant_type=client_credentials&scope=scim.read+scim.write"
    );
    assert_eq!(
        reqs[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn oauth_gives_up_after_one_refresh() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/token" => Reply::json(200, json!({"access_token": "t", "expires_in": "3600"})),
        _ => Reply::error(401, None, "no"),
    })
    .await;
    let token_url = s.base.replace("/scim/v2", "/token");
    let (b, _) = s.client();
    let c = b
        .auth(Auth::OAuth2(
            ClientCredentials::new(token_url, "app", "x").with_credentials_in_body(true),
        ))
        .build()
        .unwrap();
    let err = c.users().get("1").await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    assert_eq!(
        s.lines(),
        [
            "POST /token",
            "GET /scim/v2/Users/1",
            "POST /token",
            "GET /scim/v2/Users/1"
        ]
    );
    assert_eq!(
        s.requests()[0].body,
        "grant_type=client_credentials&client_id=app&client_secret=x"
    );
    assert!(s.requests()[0].header("authorization").is_none());
}

#[tokio::test]
async fn token_endpoint_refusal_is_unauthorized() {
    let s = Scripted::start(|_, _| {
        Reply::json(
            400,
            json!({"error": "invalid_client", "error_description": "unknown app"}),
        )
    })
    .await;
    let token_url = s.base.replace("/scim/v2", "/token");
    let (b, _) = s.client();
    let err = b
        .auth(Auth::OAuth2(ClientCredentials::new(token_url, "app", "x")))
        .build()
        .unwrap()
        .users()
        .get("1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    assert!(
        err.to_string().contains("invalid_client: unknown app"),
        "{err}"
    );
    assert_eq!(s.lines(), ["POST /token"]);
}

#[tokio::test]
async fn basic_auth_and_static_bearer_401() {
    let s = Scripted::start(|_, _| Reply::error(401, None, "bad credentials")).await;
    let (b, clock) = s.client();
    let err = b
        .auth(Auth::Basic {
            username: "u".into(),
            password: "p".into(),
        })
        .build()
        .unwrap()
        .users()
        .get("1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
    assert_eq!(s.requests()[0].header("authorization"), Some("Basic dTpw"));
    assert_eq!(s.lines().len(), 1, "a static credential is not retried");
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn status_codes_map_to_error_kinds() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/Users/404" => Reply::error(404, None, "no such user"),
        "/scim/v2/Users/409" => Reply::error(409, Some("uniqueness"), "userName taken"),
        "/scim/v2/Users/412" => Reply::error(412, None, "version mismatch"),
        "/scim/v2/Users/400" => Reply::error(400, Some("invalidFilter"), "bad filter"),
        "/scim/v2/Users/403" => Reply::empty(403),
        "/scim/v2/Users/501" => Reply::error(501, None, "no"),
        "/scim/v2/Users/html" => Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: "<html>login</html>".into(),
            delay: Duration::ZERO,
        },
        _ => Reply::empty(500),
    })
    .await;
    let (b, _) = s.client();
    let c = b.build().unwrap();
    let e = |id: &'static str| {
        let c = c.clone();
        async move { c.users().get(id).await.unwrap_err() }
    };
    assert!(matches!(e("404").await, Error::NotFound(_)));
    let conflict = e("409").await;
    assert!(matches!(conflict, Error::Conflict(_)));
    assert_eq!(conflict.scim_type(), Some(ScimType::Uniqueness));
    assert_eq!(
        conflict.to_string(),
        "conflict: HTTP 409 uniqueness: userName taken"
    );
    assert!(matches!(e("412").await, Error::PreconditionFailed(_)));
    let invalid = e("400").await;
    assert!(matches!(invalid, Error::InvalidRequest(_)));
    assert_eq!(invalid.scim_type(), Some(ScimType::InvalidFilter));
    assert!(!invalid.is_retryable());
    assert!(matches!(e("403").await, Error::Unauthorized(_)));
    assert!(matches!(e("501").await, Error::Server(_)));
    assert!(matches!(e("html").await, Error::InvalidResponse { .. }));
    assert_eq!(
        s.lines().iter().filter(|l| l.ends_with("/501")).count(),
        1,
        "501 will not change: not retried"
    );
}

#[tokio::test]
async fn rate_limit_spaces_requests() {
    let s = Scripted::start(|_, _| Reply::json(200, user("1", "a"))).await;
    let (b, clock) = s.client();
    let c = b.rate_limit(5.0, 1).build().unwrap();
    for _ in 0..4 {
        c.users().get("1").await.unwrap();
    }
    assert_eq!(clock.sleeps(), [ms(200), ms(200), ms(200)]);

    let (b, clock) = s.client();
    let c = b.rate_limit(10.0, 3).build().unwrap();
    for _ in 0..5 {
        c.users().get("1").await.unwrap();
    }
    assert_eq!(
        clock.sleeps(),
        [ms(100), ms(100)],
        "a burst of 3 goes at once"
    );
}

#[tokio::test]
async fn concurrency_is_limited_per_target() {
    let s = Scripted::start(|_, _| Reply::json(200, user("1", "a")).delay(ms(100))).await;
    let (b, _) = s.client();
    let c = b.concurrency(Some(2)).build().unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.users().get("1").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.lines().len(), 6);
    assert_eq!(s.max_in_flight(), 2);
}

#[tokio::test]
async fn create_without_a_body_fetches_the_location() {
    let s = Scripted::start(|r, _| match r.method.as_str() {
        "POST" => Reply::empty(201).header("Location", "/scim/v2/Users/9"),
        _ => Reply::json(200, user("9", "ann")),
    })
    .await;
    let (b, _) = s.client();
    let u = b
        .build()
        .unwrap()
        .users()
        .create(&user("", "ann"))
        .await
        .unwrap();
    assert_eq!(u["id"], "9");
    assert_eq!(s.lines(), ["POST /scim/v2/Users", "GET /scim/v2/Users/9"]);
}

#[tokio::test]
async fn discovery_is_read_once() {
    let s = Scripted::start(|r, _| match r.path.as_str() {
        "/scim/v2/ServiceProviderConfig" => Reply::json(200, spc(true, Some((5, 1000)), true)),
        "/scim/v2/ResourceTypes" => Reply::json(
            200,
            json!([
                {"id": "User", "name": "User", "endpoint": "/Users", "schema": scim::urn::USER},
                {"broken": true},
            ]),
        ),
        _ => Reply::empty(404),
    })
    .await;
    let (b, _) = s.client();
    let c = b.build().unwrap();
    for _ in 0..3 {
        let caps = c.capabilities().await.unwrap();
        assert!(caps.patch && caps.etag && caps.cursor_paging);
        assert_eq!(caps.bulk.unwrap().max_operations, 5);
        assert_eq!(caps.max_results, Some(200));
        assert_eq!(c.resource_types().await.unwrap().len(), 1);
    }
    assert_eq!(
        s.lines(),
        [
            "GET /scim/v2/ServiceProviderConfig",
            "GET /scim/v2/ResourceTypes"
        ]
    );
}
