use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn discovery_needs_no_token_and_describes_the_server() {
    let s = TestServer::start().await;
    let r = s
        .client
        .get(format!("{}/ServiceProviderConfig", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], SCIM);
    let (_, spc) = split(r).await;
    assert_eq!(spc["patch"]["supported"], json!(true));
    assert_eq!(spc["bulk"]["supported"], json!(true));
    assert_eq!(spc["bulk"]["maxOperations"], json!(1000));
    assert_eq!(spc["filter"]["maxResults"], json!(1000));
    assert_eq!(spc["etag"]["supported"], json!(true));
    assert_eq!(spc["sort"]["supported"], json!(true));

    let (st, rts) = split(
        s.client
            .get(format!("{}/ResourceTypes", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(rts["totalResults"], json!(2));
    let (st, user) = split(
        s.client
            .get(format!("{}/ResourceTypes/User", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(user["endpoint"], json!("/Users"));

    let (st, schemas) = split(
        s.client
            .get(format!("{}/Schemas", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    let (st, one) = split(
        s.client
            .get(format!(
                "{}/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group",
                s.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        one["id"],
        json!("urn:ietf:params:scim:schemas:core:2.0:Group")
    );
}

#[tokio::test]
async fn writes_to_discovery_are_405_with_allow() {
    let s = TestServer::start().await;
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        let r = s.req(Method::POST, path).body("{}").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(r.headers()["allow"], "GET");
        let (_, body) = split(r).await;
        assert_error(&body, 405, None);
    }
}
