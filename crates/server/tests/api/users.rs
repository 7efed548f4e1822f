use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn create_read_replace_patch_delete() {
    let s = TestServer::start().await;
    let r = s
        .req(Method::POST, "/Users")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": "bjensen",
                "externalId": "E1",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"},
                "password": "t1meMa$heen",
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "W/\"1\"");
    let (_, user) = split(r).await;
    let id = id(&user);
    assert_eq!(location, format!("{}/Users/{id}", s.base));
    assert_eq!(user["meta"]["location"], json!(location));
    assert_eq!(user["meta"]["version"], json!("W/\"1\""));
    assert_eq!(user["meta"]["resourceType"], json!("User"));
    assert!(
        user.get("password").is_none(),
        "writeOnly never returned: {user}"
    );
    assert_eq!(
        user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        json!("701984")
    );

    let (st, got) = s.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["userName"], json!("bjensen"));

    // PUT replaces; readOnly id/meta in the body are ignored.
    let (st, put) = s
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "something-else",
                "userName": "bjensen",
                "displayName": "Babs",
                "meta": {"version": "W/\"99\""},
            })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{put}");
    assert_eq!(put["id"], json!(id));
    assert_eq!(put["displayName"], json!("Babs"));
    assert!(put.get("emails").is_none());
    assert_eq!(put["meta"]["version"], json!("W/\"2\""));

    let (st, patched) = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], json!(false));
    assert_eq!(patched["meta"]["version"], json!("W/\"3\""));

    // The same PATCH again changes nothing and keeps the version.
    let (_, again) = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        )
        .await;
    assert_eq!(again["meta"]["version"], json!("W/\"3\""));

    let r = s
        .req(Method::DELETE, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (st, body) = s.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_error(&body, 404, None);
}

#[tokio::test]
async fn user_name_is_unique_case_insensitively() {
    let s = TestServer::start().await;
    s.create_user("alice").await;
    let (st, body) = s
        .send(Method::POST, "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ALICE"})))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_error(&body, 409, Some("uniqueness"));
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name_give_one_201() {
    let s = TestServer::start().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let r = s.req(Method::POST, "/Users").body(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "race"})
                .to_string(),
        );
        tasks.push(tokio::spawn(
            async move { r.send().await.unwrap().status() },
        ));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created, conflicts), (1, 15));
}

#[tokio::test]
async fn etag_preconditions() {
    let s = TestServer::start().await;
    let user = s.create_user("etag").await;
    let id = id(&user);
    let r = s
        .req(Method::GET, &format!("/Users/{id}"))
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"], "W/\"1\"");

    let body = patch(json!([{"op": "replace", "path": "displayName", "value": "E"}])).to_string();
    let r = s
        .req(Method::PATCH, &format!("/Users/{id}"))
        .header("If-Match", "W/\"7\"")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let (_, e) = split(r).await;
    assert_error(&e, 412, None);

    let r = s
        .req(Method::PATCH, &format!("/Users/{id}"))
        .header("If-Match", "W/\"1\"")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "W/\"2\"");

    let r = s
        .req(Method::DELETE, &format!("/Users/{id}"))
        .header("If-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn concurrent_if_match_writes_have_one_winner() {
    let s = TestServer::start().await;
    let id = id(&s.create_user("winner").await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let r = s
            .req(Method::PATCH, &format!("/Users/{id}"))
            .header("If-Match", "W/\"1\"")
            .body(
                patch(json!([{"op": "replace", "path": "displayName", "value": format!("n{i}")}]))
                    .to_string(),
            );
        tasks.push(tokio::spawn(
            async move { r.send().await.unwrap().status() },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        let st = t.await.unwrap();
        if st == StatusCode::OK {
            ok += 1;
        } else {
            assert_eq!(st, StatusCode::PRECONDITION_FAILED);
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn projection_keeps_id_and_schemas() {
    let s = TestServer::start().await;
    let id = id(&s.create_user("proj").await);
    let (_, u) = s
        .send(
            Method::GET,
            &format!("/Users/{id}?attributes=userName"),
            None,
        )
        .await;
    assert_eq!(u["id"], json!(id));
    assert_eq!(u["userName"], json!("proj"));
    assert!(u.get("schemas").is_some());
    assert!(u.get("emails").is_none(), "{u}");
    let (_, u) = s
        .send(
            Method::GET,
            &format!("/Users/{id}?excludedAttributes=emails"),
            None,
        )
        .await;
    assert!(u.get("emails").is_none());
    assert_eq!(u["userName"], json!("proj"));
}

/// A default GET passes the stored document on as text (no parse, no projection); any other
/// projection renders it from the parsed document. Both must give the client the same JSON, and
/// a document holding a `returned: never` attribute must still lose it.
#[tokio::test]
async fn stored_text_and_rendered_documents_agree() {
    let s = TestServer::start().await;
    let mut ids = Vec::new();
    for (name, extra) in [
        ("plain", json!({})),
        ("with-password", json!({"password": "t1meMa$heen"})),
        (
            "quoted",
            json!({"title": "he said \"hi\" \u{e9}\u{1F600}", "nickName": "password"}),
        ),
    ] {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": name,
            "externalId": format!("x-{name}"),
            "name": {"givenName": "Ana", "familyName": "Gómez"},
            "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"employeeNumber": "7", "department": "R&D"},
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = s
            .req(Method::POST, "/Users")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // A create answers from the text it stored too, and says what a GET then says.
        let created = split(r).await.1;
        assert!(created.get("password").is_none(), "{created}");
        let (_, got) = split(
            s.req(Method::GET, &format!("/Users/{}", id(&created)))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(created, got);
        ids.push(id(&created));
    }
    s.create_group("team", &[ids[0].as_str(), ids[1].as_str()])
        .await;
    for (i, id) in ids.iter().enumerate() {
        let r = s
            .req(Method::GET, &format!("/Users/{id}"))
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(text.starts_with("{\"schemas\":["), "{text}");
        let default: serde_json::Value = serde_json::from_str(&text).unwrap();
        // `excludedAttributes` of an attribute none of them has: the same content, rendered.
        let (_, rendered) = split(
            s.req(
                Method::GET,
                &format!("/Users/{id}?excludedAttributes=profileUrl"),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(default, rendered);
        assert!(default.get("password").is_none(), "{default}");
        assert_eq!(
            default["groups"].as_array().map(Vec::len),
            (i < 2).then_some(1)
        );
        let (_, found) = split(
            s.req(Method::GET, "/Users")
                .query(&[("filter", format!("id eq \"{id}\""))])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(found["Resources"][0], default);
        assert_eq!(found["totalResults"], 1);
    }
}

/// A PATCH answers from the text it wrote; the answer is what a GET then says, groups included,
/// and a `returned: never` attribute it set stays out of it.
#[tokio::test]
async fn patch_answers_what_a_get_then_says() {
    let s = TestServer::start().await;
    let user = s.create_user("patched").await;
    let uid = id(&user);
    s.create_group("team", &[uid.as_str()]).await;
    for op in [
        json!({"op": "replace", "path": "title", "value": "Boss \"Ana\" \u{e9}"}),
        json!({"op": "add", "path": "password", "value": "t1meMa$heen"}),
    ] {
        let (status, patched) = s
            .send(
                Method::PATCH,
                &format!("/Users/{uid}"),
                Some(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [op]}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert!(patched.get("password").is_none(), "{patched}");
        let (_, got) = s.send(Method::GET, &format!("/Users/{uid}"), None).await;
        assert_eq!(patched, got);
        assert_eq!(got["groups"][0]["display"], "team");
    }
}
