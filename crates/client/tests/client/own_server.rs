//! Against the project's own SCIM server over real HTTP.

use std::collections::BTreeSet;

use client::filter::{FilterExt, attr};
use client::{Error, Paging, Query};
use futures::TryStreamExt;
use scim::ScimType;
use scim::messages::{BulkMethod, BulkOperation};
use serde_json::{Value, json};
use server::Limits;

use crate::support::OwnServer;

fn new_user(user_name: &str) -> Value {
    json!({
        "schemas": [scim::urn::USER],
        "userName": user_name,
        "active": true,
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
    })
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn post(bulk_id: &str, path: &str, data: Value) -> BulkOperation {
    BulkOperation {
        method: BulkMethod::Post,
        bulk_id: Some(bulk_id.into()),
        version: None,
        path: path.into(),
        data: Some(data),
    }
}

#[tokio::test]
async fn discovery_reads_the_servers_capabilities() {
    let srv = OwnServer::with_limits(Limits {
        bulk_max_operations: 10,
        max_page_size: 50,
        ..Limits::default()
    })
    .await;
    let c = srv.client();
    let caps = c.capabilities().await.unwrap();
    assert!(caps.patch && caps.etag && caps.sort && caps.filter && caps.cursor_paging);
    assert_eq!(caps.bulk.unwrap().max_operations, 10);
    assert_eq!(caps.max_results, Some(50));
    let types = c.resource_types().await.unwrap();
    let names: BTreeSet<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains("User") && names.contains("Group"),
        "{names:?}"
    );
    let schemas = c.schemas().await.unwrap();
    assert!(schemas.iter().any(|s| s.id == scim::urn::USER));
}

#[tokio::test]
async fn create_get_update_replace_delete() {
    let srv = OwnServer::start().await;
    let users = srv.client().users();
    let created = users.create(&new_user("ann")).await.unwrap();
    let uid = id(&created);
    let fetched = users.get(&uid).await.unwrap();
    assert_eq!(fetched["userName"], "ann");

    // The minimal PATCH from old to new.
    let mut changed = fetched.clone();
    changed["active"] = json!(false);
    changed["name"]["givenName"] = json!("Anne");
    changed["emails"] = json!([{"value": "anne@example.com", "type": "work", "primary": true}]);
    let version = fetched["meta"]["version"].as_str().unwrap().to_owned();
    let patched = users
        .update(&uid, &fetched, &changed, Some(&version))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched["active"], false);
    assert_eq!(patched["name"]["givenName"], "Anne");
    assert_eq!(patched["name"]["familyName"], "Lee");
    assert_eq!(patched["emails"][0]["value"], "anne@example.com");
    assert_eq!(patched["emails"].as_array().unwrap().len(), 1);

    // The version we held is stale now.
    let err = users
        .update(&uid, &patched, &fetched, Some(&version))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PreconditionFailed(_)), "{err:?}");

    let mut replacement = new_user("ann");
    replacement["title"] = json!("Engineer");
    let replaced = users.replace(&uid, &replacement, None).await.unwrap();
    assert_eq!(replaced["title"], "Engineer");

    users.delete(&uid, None).await.unwrap();
    let err = users.get(&uid).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert!(err.detail().is_some());
}

#[tokio::test]
async fn server_errors_arrive_typed() {
    let srv = OwnServer::start().await;
    let c = srv.client();
    c.users().create(&new_user("bob")).await.unwrap();
    let err = c.users().create(&new_user("BOB")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(err.scim_type(), Some(ScimType::Uniqueness));

    let err = c
        .users()
        .list(Query::new().filter_text("userName eq"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(err.scim_type(), Some(ScimType::InvalidFilter));

    let bad = client::Client::builder(&srv.base)
        .bearer("wrong")
        .build()
        .unwrap();
    let err = bad.users().get("x").await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "{err:?}");
}

#[tokio::test]
async fn bulk_import_then_every_page_by_index_cursor_and_search() {
    let srv = OwnServer::with_limits(Limits {
        bulk_max_operations: 10,
        ..Limits::default()
    })
    .await;
    let c = srv.client();
    let mut ops: Vec<BulkOperation> = (0..24)
        .map(|i| post(&format!("u{i}"), "/Users", new_user(&format!("user{i:02}"))))
        .collect();
    // Quotes and backslashes in a value the filter must carry intact.
    ops.push(post("odd", "/Users", new_user("o\"brien\\x")));
    let results = c.bulk(ops, None).await.unwrap();
    assert_eq!(results.len(), 25);
    for r in &results {
        assert!(r.outcome.is_ok(), "{r:?}");
    }

    for paging in [Paging::Index, Paging::Cursor, Paging::Auto] {
        let all: Vec<Value> = c
            .users()
            .list(Query::new().page_size(7).paging(paging))
            .try_collect()
            .await
            .unwrap();
        let ids: BTreeSet<String> = all.iter().map(id).collect();
        assert_eq!((all.len(), ids.len()), (25, 25), "{paging:?}");
    }

    let f = attr("userName").unwrap().eq("o\"brien\\x");
    let found: Vec<Value> = c
        .users()
        .search(Query::new().filter(&f))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["userName"], "o\"brien\\x");

    let f = attr("userName")
        .unwrap()
        .sw("user0")
        .and(attr("active").unwrap().eq(true));
    let some: Vec<Value> = c
        .users()
        .list(
            Query::new()
                .filter(&f)
                .attributes(["userName"])
                .page_size(3),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(some.len(), 10);
    assert!(some.iter().all(|u| u.get("emails").is_none()));

    let limited: Vec<Value> = c
        .users()
        .list(Query::new().limit(4))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(limited.len(), 4);

    assert_eq!(
        c.users().find_by("userName", "USER03").await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn groups_membership_by_diff_and_bulk_references() {
    let srv = OwnServer::with_limits(Limits {
        bulk_max_operations: 2,
        ..Limits::default()
    })
    .await;
    let c = srv.client();
    // The group is in the second Bulk request and refers to users of the first.
    let results = c
        .bulk(
            vec![
                post("a", "/Users", new_user("a")),
                post("b", "/Users", new_user("b")),
                post(
                    "g",
                    "/Groups",
                    json!({"schemas": [scim::urn::GROUP], "displayName": "eng",
                           "members": [{"value": "bulkId:a"}, {"value": "bulkId:b"}]}),
                ),
            ],
            None,
        )
        .await
        .unwrap();
    let ids: Vec<String> = results
        .iter()
        .map(|r| r.outcome.as_ref().unwrap().id.clone().unwrap())
        .collect();
    let (a, b, g) = (&ids[0], &ids[1], &ids[2]);
    let mut members: Vec<String> = c
        .groups()
        .members(g)
        .await
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(members, expected);

    let d = id(&c.users().create(&new_user("d")).await.unwrap());
    let old = c.groups().get(g).await.unwrap();
    let mut new = old.clone();
    new["members"] = json!([{"value": a}, {"value": d}]);
    c.groups().update(g, &old, &new, None).await.unwrap();
    let mut now: Vec<String> = c
        .groups()
        .members(g)
        .await
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    now.sort();
    let mut expected = vec![a.clone(), d.clone()];
    expected.sort();
    assert_eq!(now, expected);
}
