use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// The status of each operation in a Bulk response, in order.
fn statuses(r: &Value) -> Vec<&str> {
    r["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn bulk_with_cross_references_in_members() {
    let s = TestServer::start().await;
    let (st, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Groups", "bulkId": "g",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                              "displayName": "Tour Guides",
                              "members": [{"type": "User", "value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u1",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}},
                    {"method": "POST", "path": "/Users", "bulkId": "u2",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Bob"}},
                    {"method": "PATCH", "path": "/Users/bulkId:u2",
                     "data": {"Operations": [{"op": "replace", "path": "active", "value": false}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "dup",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice"}}
                ]
            })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        r["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    let ops = r["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 5);
    let by_id = |b: &str| {
        ops.iter()
            .find(|o| o["bulkId"] == json!(b))
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("g")["status"], json!("201"));
    assert_eq!(by_id("u1")["status"], json!("201"));
    assert_eq!(by_id("dup")["status"], json!("409"));
    assert_eq!(by_id("dup")["response"]["scimType"], json!("uniqueness"));
    let glocation = by_id("g")["location"].as_str().unwrap().to_owned();
    let gid = glocation.rsplit('/').next().unwrap();
    let (_, g) = s.send(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 2, "{g}");
}

#[tokio::test]
async fn bulk_limits_and_circular_references() {
    let s = TestServer::with_limits(server::Limits {
        bulk_max_operations: 2,
        ..Default::default()
    })
    .await;
    let op = json!({"method": "DELETE", "path": "/Users/x"});
    let (st, e) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"Operations": [op, op, op]})),
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&e, 413, None);

    let (st, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "a",
                 "data": {"displayName": "A", "members": [{"value": "bulkId:b"}]}},
                {"method": "POST", "path": "/Groups", "bulkId": "b",
                 "data": {"displayName": "B", "members": [{"value": "bulkId:a"}]}}
            ]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for op in r["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], json!("409"), "{r}");
    }
}

#[tokio::test]
async fn fail_on_errors_stops_processing() {
    let s = TestServer::start().await;
    let bad = json!({"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": 5}});
    let good =
        json!({"method": "POST", "path": "/Users", "bulkId": "y", "data": {"userName": "fine"}});
    let (_, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"failOnErrors": 1, "Operations": [bad, good]})),
        )
        .await;
    let ops = r["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{r}");
    assert_eq!(ops[0]["status"], json!("400"));
}

/// Consecutive creates are written in one transaction, yet each succeeds or fails alone and
/// `failOnErrors` stops exactly where it would one operation at a time.
#[tokio::test]
async fn a_run_of_creates_fails_per_operation() {
    let s = TestServer::start().await;
    let (st, _) = s
        .send(Method::POST, "/Users", Some(json!({"userName": "taken"})))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let user = |b: &str, name: &str| json!({"method": "POST", "path": "/Users", "bulkId": b, "data": {"userName": name}});
    let ops = [
        user("a", "u1"),
        user("b", "TAKEN"),
        user("c", "u3"),
        user("d", "U1"),
        user("e", "u5"),
    ];
    let (_, r) = s
        .send(Method::POST, "/Bulk", Some(json!({"Operations": ops})))
        .await;
    assert_eq!(statuses(&r), ["201", "409", "201", "409", "201"], "{r}");
    assert_eq!(r["Operations"][1]["response"]["scimType"], "uniqueness");
    let (_, list) = s.send(Method::GET, "/Users?count=0", None).await;
    assert_eq!(list["totalResults"], 4);

    let ops = [user("f", "u6"), user("g", "u1"), user("h", "u8")];
    let (_, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"failOnErrors": 1, "Operations": ops})),
        )
        .await;
    assert_eq!(statuses(&r), ["201", "409"], "{r}");
    let (_, list) = s
        .send(Method::GET, "/Users?filter=userName%20eq%20%22u8%22", None)
        .await;
    assert_eq!(list["totalResults"], 0, "not attempted after failOnErrors");
}

/// A create whose body validation refuses ends a run of creates: it is reported in its place
/// with the error `POST` alone gives, the creates after it still run, and `failOnErrors` counts
/// it where it stands.
#[tokio::test]
async fn a_refused_body_inside_a_run_is_reported_in_place() {
    let s = TestServer::start().await;
    let user = |b: &str, name: Value| json!({"method": "POST", "path": "/Users", "bulkId": b, "data": {"userName": name}});
    let ops = [
        user("a", json!("r1")),
        user("b", json!("r2")),
        user("c", json!(5)),
        user("d", json!("r4")),
        user("e", json!("r5")),
    ];
    let (_, r) = s
        .send(Method::POST, "/Bulk", Some(json!({"Operations": ops})))
        .await;
    assert_eq!(statuses(&r), ["201", "201", "400", "201", "201"], "{r}");
    assert_eq!(r["Operations"][2]["response"]["scimType"], "invalidValue");
    assert_eq!(r["Operations"][2]["bulkId"], "c");
    let (_, alone) = s
        .send(Method::POST, "/Users", Some(json!({"userName": 5})))
        .await;
    assert_eq!(r["Operations"][2]["response"]["detail"], alone["detail"]);

    // The run's own failure reaches the limit: the refused body after it is not reported.
    let ops = [
        user("f", json!("r6")),
        user("g", json!("R1")),
        user("h", json!(7)),
    ];
    let (_, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"failOnErrors": 1, "Operations": ops})),
        )
        .await;
    assert_eq!(statuses(&r), ["201", "409"], "{r}");

    // The refused body is the error that reaches the limit: nothing after it runs.
    let ops = [
        user("i", json!("r9")),
        user("j", json!(8)),
        user("k", json!("r11")),
    ];
    let (_, r) = s
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"failOnErrors": 1, "Operations": ops})),
        )
        .await;
    assert_eq!(statuses(&r), ["201", "400"], "{r}");
    let (_, list) = s
        .send(Method::GET, "/Users?filter=userName%20eq%20%22r11%22", None)
        .await;
    assert_eq!(list["totalResults"], 0, "not attempted after failOnErrors");
}
