use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn membership_add_remove_and_user_groups() {
    let s = TestServer::start().await;
    let a = id(&s.create_user("a").await);
    let b = id(&s.create_user("b").await);
    let g = s.create_group("Engineering", &[&a]).await;
    let gid = id(&g);
    assert_eq!(member_ids(&g), vec![a.clone()]);
    assert_eq!(g["members"][0]["type"], json!("User"));
    assert_eq!(g["members"][0]["display"], json!("a"));

    let (st, g) = s
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}?attributes=members"),
            Some(patch(
                json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
            )),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{g}");
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(member_ids(&g), want);

    // Nested group: outer contains Engineering; a's groups are direct + indirect.
    let outer = s.create_group("Everyone", &[&gid]).await;
    let (_, user) = s.send(Method::GET, &format!("/Users/{a}"), None).await;
    let groups = user["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{user}");
    let direct = groups.iter().find(|g| g["value"] == json!(gid)).unwrap();
    assert_eq!(direct["type"], json!("direct"));
    let indirect = groups.iter().find(|g| g["value"] == outer["id"]).unwrap();
    assert_eq!(indirect["type"], json!("indirect"));

    // Remove by filter, then by value list.
    let (_, g) = s
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}?attributes=members"),
            Some(patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
            )),
        )
        .await;
    assert_eq!(member_ids(&g), vec![b.clone()]);
    let (_, g) = s
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}?attributes=members"),
            Some(patch(
                json!([{"op": "Remove", "path": "members", "value": [{"value": b}]}]),
            )),
        )
        .await;
    assert!(g.get("members").is_none(), "{g}");

    // Deleting a user removes it from every group.
    s.send(
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(patch(
            json!([{"op": "add", "path": "members", "value": [{"value": a}]}]),
        )),
    )
    .await;
    let r = s
        .req(Method::DELETE, &format!("/Users/{a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, g) = s.send(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert!(g.get("members").is_none(), "{g}");
}

#[tokio::test]
async fn group_patch_without_projection_answers_204_with_etag() {
    let s = TestServer::start().await;
    let a = id(&s.create_user("a").await);
    let gid = id(&s.create_group("G", &[]).await);
    let r = s
        .req(Method::PATCH, &format!("/Groups/{gid}"))
        .body(patch(json!([{"op": "add", "path": "members", "value": [{"value": a}]}])).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["etag"], "W/\"2\"");
    // Asking for a projection gets the resource back.
    let (st, g) = s
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}?attributes=displayName"),
            Some(patch(
                json!([{"op": "replace", "path": "displayName", "value": "H"}]),
            )),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(g["displayName"], json!("H"));
    assert!(g.get("members").is_none());
}

#[tokio::test]
async fn unknown_member_is_rejected_and_nothing_changes() {
    let s = TestServer::start().await;
    let a = id(&s.create_user("a").await);
    let gid = id(&s.create_group("G", &[&a]).await);
    let (st, body) = s
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}?attributes=members"),
            Some(patch(json!([
                {"op": "replace", "path": "displayName", "value": "Renamed"},
                {"op": "add", "path": "members", "value": [{"value": "no-such-id"}]}
            ]))),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&body, 400, Some("invalidValue"));
    let (_, g) = s.send(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(g["displayName"], json!("G"));
    assert_eq!(g["meta"]["version"], json!("W/\"1\""));
}

#[tokio::test]
async fn concurrent_member_adds_lose_nothing() {
    let s = TestServer::start().await;
    let gid = id(&s.create_group("Big", &[]).await);
    let mut users = Vec::new();
    for i in 0..32 {
        users.push(id(&s.create_user(&format!("m{i}")).await));
    }
    let mut tasks = Vec::new();
    for u in &users {
        let r = s
            .req(
                Method::PATCH,
                &format!("/Groups/{gid}?excludedAttributes=members"),
            )
            .body(
                patch(json!([{"op": "add", "path": "members", "value": [{"value": u}]}]))
                    .to_string(),
            );
        tasks.push(tokio::spawn(
            async move { r.send().await.unwrap().status() },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let (_, g) = s.send(Method::GET, &format!("/Groups/{gid}"), None).await;
    let mut want = users.clone();
    want.sort();
    assert_eq!(member_ids(&g), want);
}

#[tokio::test]
async fn group_display_name_is_unique() {
    let s = TestServer::start().await;
    s.create_group("Sales", &[]).await;
    let (st, body) = s
        .send(Method::POST, "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"})))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_error(&body, 409, Some("uniqueness"));
}
