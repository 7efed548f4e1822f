use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn auth_failures_are_401_with_www_authenticate() {
    let s = TestServer::start().await;
    let r = s
        .client
        .get(format!("{}/Users", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (_, e) = split(r).await;
    assert_error(&e, 401, None);
    for auth in ["Bearer nope", "Basic abc", "Bearer"] {
        let r = s
            .client
            .get(format!("{}/Users", s.base))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
    }
    // Revoked.
    let info = s.store.tokens(None).await.unwrap();
    assert!(s.store.revoke_token(&info[0].id).await.unwrap());
    let r = s.req(Method::GET, "/Users").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// A live token is remembered for `TOKEN_CACHE_TTL`, so a revocation from another process
/// (the store here) takes effect within that time, not later.
#[tokio::test]
async fn a_revoked_token_in_use_is_refused_within_the_cache_lifetime() {
    let s = TestServer::start().await;
    let r = s.req(Method::GET, "/Users").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let info = s.store.tokens(None).await.unwrap();
    assert!(s.store.revoke_token(&info[0].id).await.unwrap());
    tokio::time::sleep(server::auth::TOKEN_CACHE_TTL + std::time::Duration::from_millis(50)).await;
    let r = s.req(Method::GET, "/Users").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_bodies_and_content_types() {
    let s = TestServer::start().await;
    let r = s
        .req(Method::POST, "/Users")
        .body("{\"userName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (_, e) = split(r).await;
    assert_error(&e, 400, Some("invalidSyntax"));

    let r = s
        .client
        .post(format!("{}/Users", s.base))
        .bearer_auth(&s.token)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, e) = split(r).await;
    assert_error(&e, 415, Some("invalidSyntax"));

    let r = s
        .req(Method::POST, "/Users")
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (_, e) = split(r).await;
    assert_error(&e, 413, None);

    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = s
        .req(Method::POST, "/Users")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_filters_paths_and_values() {
    let s = TestServer::start().await;
    let (st, e) = s
        .send(
            Method::GET,
            "/Users?filter=userName%20equals%20%22x%22",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&e, 400, Some("invalidFilter"));
    let (_, e) = s
        .send(Method::GET, "/Users?filter=nope%20eq%20%22x%22", None)
        .await;
    assert_error(&e, 400, Some("invalidFilter"));
    let (_, e) = s.send(Method::GET, "/Users?startIndex=abc", None).await;
    assert_error(&e, 400, Some("invalidValue"));
    let (st, l) = s
        .send(
            Method::GET,
            "/Users?startIndex=-5&count=10000000&unknown=1",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{l}");
    assert_eq!(l["startIndex"], json!(1));

    let id = id(&s.create_user("v").await);
    let (_, e) = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(json!([]))),
        )
        .await;
    assert_error(&e, 400, Some("invalidValue"));
    let (_, e) = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(
                json!([{"op": "replace", "path": "nosuch", "value": 1}]),
            )),
        )
        .await;
    assert_error(&e, 400, Some("invalidPath"));
    let (_, e) = s
        .send(
            Method::POST,
            "/Users",
            Some(json!({"userName": "x", "active": "maybe"})),
        )
        .await;
    assert_error(&e, 400, Some("invalidValue"));
    let (_, e) = s
        .send(
            Method::POST,
            "/Users",
            Some(json!({"displayName": "no userName"})),
        )
        .await;
    assert_error(&e, 400, Some("invalidValue"));
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let s = TestServer::start().await;
    let (st, e) = s.send(Method::GET, "/Widgets", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_error(&e, 404, None);
    let r = s.req(Method::DELETE, "/Users").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, POST");
    let (_, e) = split(r).await;
    assert_error(&e, 405, None);
    let (st, e) = s.send(Method::GET, "/Me", None).await;
    assert_eq!(st, StatusCode::NOT_IMPLEMENTED);
    assert_error(&e, 501, None);
}

#[tokio::test]
async fn a_client_trickling_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::with_limits(server::Limits {
        header_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let addr = s
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/scim/v2")
        .to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    // The server closes the connection (possibly after a 408) well before we finish.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        conn.read_to_end(&mut buf),
    )
    .await;
    assert!(read.is_ok(), "connection still open after 5 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn connections_per_client_are_capped() {
    use tokio::io::AsyncReadExt;
    let s = TestServer::with_limits(server::Limits {
        max_connections_per_client: 2,
        ..Default::default()
    })
    .await;
    let addr = s
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/scim/v2")
        .to_owned();
    let _a = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "third connection should be closed"
    );
}

#[tokio::test]
async fn duplicate_keys_invalid_utf8_and_huge_values() {
    let s = TestServer::start().await;
    let r = s
        .req(Method::POST, "/Users")
        .body(r#"{"userName": "a", "userName": "b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (_, e) = split(r).await;
    assert_error(&e, 400, Some("invalidSyntax"));
    assert!(
        e["detail"].as_str().unwrap().contains("appears twice"),
        "{e}"
    );

    let mut bytes = br#"{"userName": "#.to_vec();
    bytes.extend_from_slice(&[b'"', 0xff, 0xfe, b'"', b'}']);
    let r = s
        .req(Method::POST, "/Users")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (_, e) = split(r).await;
    assert_error(&e, 400, Some("invalidSyntax"));

    let big = "x".repeat(512 * 1024);
    let (st, e) = s
        .send(
            Method::POST,
            "/Users",
            Some(json!({"userName": "big", "displayName": big})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&e, 400, Some("invalidValue"));
    // Nothing half-written: the userName is still free.
    s.create_user("big").await;
}

#[tokio::test]
async fn every_attribute_type_rejects_the_wrong_type() {
    let s = TestServer::start().await;
    let user = "urn:ietf:params:scim:schemas:core:2.0:User";
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let cases = [
        json!({"schemas": [user], "userName": 7}), // string
        json!({"schemas": [user], "userName": "a", "active": "maybe"}), // boolean
        json!({"schemas": [user], "userName": "a", "emails": "not-a-list-of-objects-or-string"}),
        json!({"schemas": [user], "userName": "a", "name": "flat"}), // complex
        json!({"schemas": [user], "userName": "a", "emails": [{"value": "x", "primary": true}, {"value": "y", "primary": true}]}),
        json!({"schemas": [user], "userName": "a", "x509Certificates": [{"value": "%%%not base64"}]}), // binary
        json!({"schemas": [user, ent], "userName": "a", ent: {"manager": {"value": 5}}}), // reference
        json!({"schemas": [user], "userName": "a", "meta": 5, "active": [true, false]}), // multi for single
    ];
    for body in cases {
        let (st, e) = s.send(Method::POST, "/Users", Some(body.clone())).await;
        if st == StatusCode::CREATED {
            // Lenient shapes (a bare string for a multi-valued complex attribute) are documented;
            // anything else must be a 400 invalidValue.
            assert_eq!(
                body["emails"],
                json!("not-a-list-of-objects-or-string"),
                "{body} → {e}"
            );
            continue;
        }
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body} → {e}");
        assert_error(&e, 400, Some("invalidValue"));
    }
    let (st, e) = s
        .send(
            Method::POST,
            "/Users",
            Some(json!({"userName": "u", "favouriteColour": "blue"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&e, 400, Some("invalidSyntax"));
    assert!(
        e["detail"].as_str().unwrap().contains("favouriteColour"),
        "{e}"
    );
}

#[tokio::test]
async fn oversized_filters_and_patches() {
    let s = TestServer::start().await;
    let long = format!("userName eq \"{}\"", "x".repeat(9000));
    let (st, e) = s
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"filter": long})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&e, 400, Some("invalidFilter"));
    let deep = format!("{}userName pr{}", "(".repeat(200), ")".repeat(200));
    let (_, e) = s
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"filter": deep})),
        )
        .await;
    assert_error(&e, 400, Some("invalidFilter"));

    let id = id(&s.create_user("p").await);
    let ops: Vec<_> = (0..10_000)
        .map(|i| json!({"op": "replace", "path": "displayName", "value": format!("{i}")}))
        .collect();
    let (st, e) = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(json!(ops))),
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&e, 413, None);
    // A path into a missing parent creates it (add/replace) or is a no-op (remove).
    let (st, u) = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(json!([
                {"op": "remove", "path": "addresses[type eq \"work\"].streetAddress"},
                {"op": "replace", "path": "name.givenName", "value": "P"}
            ]))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["name"], json!({"givenName": "P"}));
    let (_, e) = s
        .send(Method::GET, "/Users?count=99999999999999999999999", None)
        .await;
    assert_error(&e, 400, Some("invalidValue"));
}

/// The filter, value and PATCH limits are the server's settings: a server set tighter than the
/// defaults refuses what a default server takes, on every path that parses a filter or validates
/// a resource, and names the limit in force.
#[tokio::test]
async fn filter_value_and_patch_limits_are_settings() {
    let s = TestServer::with_limits(server::Limits {
        max_filter_length: 40,
        max_filter_depth: 2,
        max_value_bytes: 100,
        max_multi_values: 2,
        max_patch_operations: 3,
        ..Default::default()
    })
    .await;
    let default = TestServer::start().await;
    let detail = |e: &serde_json::Value| e["detail"].as_str().unwrap_or_default().to_owned();
    let user = |name: &str, display: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "displayName": display,
        })
    };

    // Filter length: GET and POST .search.
    let long = "userName eq \"abcdefghijklmnopqrstuvwxyz0123456789\"";
    let query = "/Users?filter=userName%20eq%20%22abcdefghijklmnopqrstuvwxyz0123456789%22";
    let (st, _) = default.send(Method::GET, query, None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = s.send(Method::GET, query, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&e, 400, Some("invalidFilter"));
    assert_eq!(
        detail(&e),
        "invalid filter: the filter is 50 bytes long; the limit is 40"
    );
    let (_, e) = s
        .send(Method::POST, "/.search", Some(json!({"filter": long})))
        .await;
    assert_error(&e, 400, Some("invalidFilter"));
    assert!(detail(&e).ends_with("the limit is 40"), "{e}");

    // Filter depth: three levels against a limit of two.
    let deep = "not (((userName pr)))";
    let (st, _) = default
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"filter": deep})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, e) = s
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"filter": deep})),
        )
        .await;
    assert_error(&e, 400, Some("invalidFilter"));
    assert!(
        detail(&e).starts_with(
            "invalid filter: the filter nests deeper than 2 levels of brackets, 'not' and value \
             paths at column 7"
        ),
        "{e}"
    );

    // Value size on POST, PUT, PATCH and Bulk.
    let (st, created) = s
        .send(Method::POST, "/Users", Some(user("v", &"x".repeat(100))))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let at = format!("/Users/{}", id(&created));
    let big = "x".repeat(101);
    let (st, _) = default
        .send(Method::POST, "/Users", Some(user("v", &big)))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let too_long = "attribute 'displayName' is 101 bytes long; the limit is 100 bytes";
    let (_, e) = s.send(Method::POST, "/Users", Some(user("w", &big))).await;
    assert_error(&e, 400, Some("invalidValue"));
    assert_eq!(detail(&e), too_long);
    let (_, e) = s.send(Method::PUT, &at, Some(user("v", &big))).await;
    assert_error(&e, 400, Some("invalidValue"));
    assert_eq!(detail(&e), too_long);
    let replace = json!([{"op": "replace", "path": "displayName", "value": big}]);
    let (_, e) = s.send(Method::PATCH, &at, Some(patch(replace))).await;
    assert_error(&e, 400, Some("invalidValue"));
    assert_eq!(detail(&e), too_long);
    let (st, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("w", &big)},
                {"method": "PATCH", "path": at, "data": patch(json!([
                    {"op": "add", "value": {"nickName": big}}
                ]))}
            ]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["Operations"][0]["status"], json!("400"), "{r}");
    assert_eq!(r["Operations"][0]["response"]["detail"], json!(too_long));
    assert_eq!(r["Operations"][1]["status"], json!("400"), "{r}");
    assert_eq!(
        r["Operations"][1]["response"]["detail"],
        json!("attribute 'nickName' is 101 bytes long; the limit is 100 bytes")
    );

    // Values per multi-valued attribute.
    let mut three = user("m", "M");
    three["emails"] = json!([{"value": "a@x"}, {"value": "b@x"}, {"value": "c@x"}]);
    let (_, e) = s.send(Method::POST, "/Users", Some(three)).await;
    assert_error(&e, 400, Some("invalidValue"));
    assert_eq!(
        detail(&e),
        "attribute 'emails' has 3 values; the limit is 2"
    );

    // A PATCH path's value filter is held to the filter depth, alone and in Bulk.
    let nested = json!([{"op": "remove", "path": "emails[not ((type eq \"work\"))]"}]);
    let (_, e) = s
        .send(Method::PATCH, &at, Some(patch(nested.clone())))
        .await;
    assert_error(&e, 400, Some("invalidPath"));
    assert!(detail(&e).contains("deeper than 2 levels"), "{e}");
    let (_, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"Operations": [
                {"method": "PATCH", "path": at, "data": patch(nested)}
            ]})),
        )
        .await;
    assert_eq!(r["Operations"][0]["status"], json!("400"), "{r}");
    assert_eq!(
        r["Operations"][0]["response"]["scimType"],
        json!("invalidPath")
    );

    // PATCH operations per request.
    let four = json!(vec![
        json!({"op": "replace", "path": "title", "value": "t"});
        4
    ]);
    let (st, e) = s.send(Method::PATCH, &at, Some(patch(four))).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&e, 413, None);
    assert_eq!(
        detail(&e),
        "PATCH request has 4 operations; at most 3 are accepted in one request"
    );
}

/// Limits set looser than the defaults let through what the defaults refuse, PATCH included
/// (its intermediate values are bounded by the same setting as the result).
#[tokio::test]
async fn limits_can_be_raised_above_the_defaults() {
    let s = TestServer::with_limits(server::Limits {
        max_filter_depth: 40,
        max_value_bytes: 128 * 1024,
        ..Default::default()
    })
    .await;
    let big = "x".repeat(70 * 1024);
    let (st, created) = s
        .send(
            Method::POST,
            "/Users",
            Some(json!({"userName": "big", "displayName": big})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let at = format!("/Users/{}", id(&created));
    let (st, u) = s
        .send(
            Method::PATCH,
            &at,
            Some(patch(
                json!([{"op": "add", "path": "nickName", "value": big}]),
            )),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    let filter = format!("{}userName eq \"big\"{}", "(".repeat(40), ")".repeat(40));
    let (st, r) = s
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"filter": filter})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["totalResults"], json!(1));
}

/// The worst filter the ceilings on the settings allow: `max_filter_depth` nested `not`s around
/// as long a chain of `or`s as the length allows, a tree some 800 deep. It parses, checks and
/// runs on SQLite (whose expressions may nest 1,000 deep) without exhausting a 2 MiB stack (a
/// test thread's, and a tokio worker's), even in a debug build.
#[tokio::test]
async fn the_worst_filter_the_ceilings_allow_runs() {
    let (depth, length) = (
        server::Limits::FILTER_DEPTH_CEILING,
        server::Limits::FILTER_LENGTH_CEILING,
    );
    let s = TestServer::with_limits(server::Limits {
        max_filter_depth: depth,
        max_filter_length: length,
        ..Default::default()
    })
    .await;
    s.create_user("deep").await;
    let room = length - depth * "not ()".len();
    let terms = (room + " or ".len()) / "id pr or ".len();
    let chain = vec!["id pr"; terms].join(" or ");
    let filter = format!("{}{chain}{}", "not (".repeat(depth), ")".repeat(depth));
    assert!(filter.len() <= length && filter.len() > length - 9);
    let (st, r) = s
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"filter": filter})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["totalResults"], json!(1));
}
