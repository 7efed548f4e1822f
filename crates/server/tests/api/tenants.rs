use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn tenants_never_see_each_other() {
    let s = TestServer::start().await;
    let other = s.token_for("t2").await;
    let a = id(&s.create_user("shared-name").await);
    let g = id(&s.create_group("G", &[&a]).await);

    // Same userName is free in the other tenant.
    let r = s
        .req_as(&other, Method::POST, "/Users")
        .body(json!({"userName": "shared-name"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    for (method, path) in [
        (Method::GET, format!("/Users/{a}")),
        (Method::DELETE, format!("/Users/{a}")),
        (Method::GET, format!("/Groups/{g}")),
    ] {
        let r = s
            .req_as(&other, method.clone(), &path)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let r = s
        .req_as(&other, Method::PATCH, &format!("/Users/{a}"))
        .body(patch(json!([{"op": "replace", "path": "active", "value": false}])).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, l) = split(
        s.req_as(
            &other,
            Method::GET,
            &format!("/Users?filter=id%20eq%20%22{a}%22"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(l["totalResults"], json!(0));
    let (_, l) = split(
        s.req_as(&other, Method::GET, "/Users")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(l["totalResults"], json!(1));
    // A member from another tenant cannot be added.
    let r = s
        .req_as(&other, Method::POST, "/Groups")
        .body(json!({"displayName": "X", "members": [{"value": a}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // PUT, ETag probes, root search and Bulk references behave as if B's data did not exist.
    let r = s
        .req_as(&other, Method::PUT, &format!("/Users/{a}"))
        .body(json!({"userName": "hijack"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .req_as(&other, Method::GET, &format!("/Users/{a}"))
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .req_as(&other, Method::DELETE, &format!("/Groups/{g}"))
        .header("If-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, l) = split(
        s.req_as(&other, Method::POST, "/.search")
            .body(json!({"filter": "meta.created pr"}).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    // Tenant B holds only its own "shared-name" user (its group with A's member was refused).
    assert_eq!(l["totalResults"], json!(1), "{l}");
    let (_, l) = split(
        s.req_as(
            &other,
            Method::GET,
            "/Groups?filter=displayName%20eq%20%22G%22",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(l["totalResults"], json!(0));
    let (_, r) = split(
        s.req_as(&other, Method::POST, "/Bulk")
            .body(
                json!({"Operations": [
                    {"method": "PATCH", "path": format!("/Groups/{g}"),
                     "data": {"Operations": [{"op": "add", "path": "members", "value": [{"value": a}]}]}},
                    {"method": "DELETE", "path": format!("/Users/{a}")}
                ]})
                .to_string(),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    for op in r["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], json!("404"), "{r}");
    }
    // And tenant A's data is untouched.
    let (_, g) = s.send(Method::GET, &format!("/Groups/{g}"), None).await;
    assert_eq!(member_ids(&g), vec![a.clone()]);
    assert_eq!(g["meta"]["version"], json!("W/\"1\""));
}
