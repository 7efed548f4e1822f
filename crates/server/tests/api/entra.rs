//! The request sequence Microsoft Entra ID sends (shared/reference/entra-provisioning.md §2,
//! §10b), in its default form and its `aadOptscim062020` form.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn entra_user_lifecycle_default_form() {
    let s = TestServer::start().await;
    // Test connection: a filter on a random GUID answers an empty ListResponse.
    let (st, list) = s
        .send(
            Method::GET,
            "/Users?filter=userName%20eq%20%22a1b2c3d4-0000-4000-8000-000000000000%22",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["totalResults"], json!(0));
    assert_eq!(
        list["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );

    // Match by externalId, then create.
    let (_, list) = s
        .send(
            Method::GET,
            "/Users?filter=externalId%20eq%20%22jdoe%22",
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(0));
    let (st, user) = s
        .send(
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "externalId": "jdoe",
                "userName": "jdoe@contoso.com",
                "active": true,
                "displayName": "Jane Doe",
                "emails": [{"primary": true, "type": "work", "value": "jdoe@contoso.com"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
                "roles": [],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{user}");
    let uid = id(&user);

    let (_, list) = s
        .send(
            Method::GET,
            "/Users?filter=externalId%20eq%20%22jdoe%22",
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(1));
    let (_, list) = s
        .send(
            Method::GET,
            "/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22JDOE@contoso.com%22",
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(1), "{list}");

    // Update with capitalised ops, string booleans, filtered paths, a manager as a plain string.
    let mgr = id(&s.create_user("boss@contoso.com").await);
    let (st, user) = s
        .send(
            Method::PATCH,
            &format!("/Users/{uid}"),
            Some(patch(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "jane.doe@contoso.com"},
                {"op": "Replace", "path": "name.familyName", "value": "Doe-Smith"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": mgr},
                {"op": "Replace", "path": "active", "value": "False"}
            ]))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{user}");
    assert_eq!(user["emails"][0]["value"], json!("jane.doe@contoso.com"));
    assert_eq!(user["name"]["familyName"], json!("Doe-Smith"));
    assert_eq!(
        user["phoneNumbers"][0],
        json!({"type": "mobile", "value": "+1 555 0100"})
    );
    assert_eq!(user["active"], json!(false));
    assert_eq!(
        user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
        json!(mgr)
    );

    let r = s
        .req(Method::DELETE, &format!("/Users/{uid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn entra_compliant_form_pathless_replace() {
    let s = TestServer::start().await;
    let uid = id(&s.create_user("ann").await);
    let (st, user) = s
        .send(
            Method::PATCH,
            &format!("/Users/{uid}?aadOptscim062020"),
            Some(patch(json!([{"op": "replace", "value": {
                "name.givenName": "Ann",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
                "active": false
            }}]))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{user}");
    assert_eq!(user["name"]["givenName"], json!("Ann"));
    assert_eq!(
        user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        json!("7")
    );
    assert_eq!(user["active"], json!(false));
}

#[tokio::test]
async fn entra_group_lifecycle() {
    let s = TestServer::start().await;
    let u1 = id(&s.create_user("u1").await);
    let u2 = id(&s.create_user("u2").await);
    let (_, list) = s
        .send(
            Method::GET,
            "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Sales%22",
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(0));
    let (st, g) = s
        .send(
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Sales",
                "meta": {"resourceType": "Group"}
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let gid = id(&g);
    let path = format!("/Groups/{gid}");
    // Group PATCH answers 204, as Entra expects.
    let (st, body) = s
        .send(Method::PATCH, &path, Some(patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}]}]))))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(body, serde_json::Value::Null);
    let (_, g) = s.send(Method::GET, &path, None).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    let (_, g) = s
        .send(
            Method::GET,
            &format!("{path}?excludedAttributes=members"),
            None,
        )
        .await;
    assert!(g.get("members").is_none());
    let (_, list) = s
        .send(
            Method::GET,
            "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22sales%22",
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(1));
    assert!(list["Resources"][0].get("members").is_none());
    // Default remove form and the aadOptscim062020 form.
    s.send(
        Method::PATCH,
        &path,
        Some(patch(
            json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}]),
        )),
    )
    .await;
    let (st, _) = s
        .send(
            Method::PATCH,
            &path,
            Some(patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]),
            )),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, g) = s.send(Method::GET, &path, None).await;
    assert!(g.get("members").is_none(), "{g}");
    let (_, g) = s
        .send(
            Method::PATCH,
            &format!("{path}?excludedAttributes=members"),
            Some(patch(
                json!([{"op": "Replace", "path": "displayName", "value": "Sales EU"}]),
            )),
        )
        .await;
    assert_eq!(g["displayName"], json!("Sales EU"));
    let r = s.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}
