//! Filters: every indexed path, the in-memory fallbacks, and their combinations.

use serde_json::json;

use super::*;

/// Four users and two groups with a spread of indexed and non-indexed attributes. The clock
/// advances one second between them, so `meta.created` of the n-th (0-based) is
/// EPOCH + n seconds (plus the clock's own milliseconds).
async fn seed(b: &Backend) -> TenantId {
    let s = &*b.store;
    let t = tenant(s, "acme").await;
    let docs = [
        json!({"schemas": [scim::urn::USER], "userName": "bjensen", "externalId": "E-1",
               "displayName": "Barbara Jensen", "active": true, "title": "Tour Guide",
               "name": {"familyName": "Jensen", "givenName": "Barbara"},
               "emails": [{"value": "BJensen@Example.com", "type": "work", "primary": true},
                          {"value": "babs@home.example", "type": "home"}]}),
        json!({"schemas": [scim::urn::USER], "userName": "jsmith", "externalId": "e-2",
               "displayName": "John Smith", "active": false,
               "name": {"familyName": "Smith", "givenName": "John"},
               "emails": [{"value": "john@example.com", "type": "home"}]}),
        json!({"schemas": [scim::urn::USER], "userName": "Ärger", "active": true,
               "name": {"familyName": "Ärger"},
               "emails": [{"value": "aerger@example.org", "type": "work"}]}),
        json!({"schemas": [scim::urn::USER], "userName": "zed"}),
    ];
    for d in docs {
        s.create(t, "User", d, vec![]).await.unwrap();
        b.tick(1000);
    }
    s.create(
        t,
        "Group",
        json!({"schemas": [scim::urn::GROUP], "displayName": "Tour Guides", "externalId": "G-1"}),
        vec![],
    )
    .await
    .unwrap();
    s.create(t, "Group", group("Admins"), vec![]).await.unwrap();
    t
}

async fn users(b: &Backend, t: TenantId, f: &str) -> Vec<String> {
    let page = b.store.list(t, Some("User"), &query(f)).await.unwrap();
    let got = names(&page.resources);
    assert_eq!(page.total as usize, got.len(), "total of {f}");
    got
}

fn v(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn indexed_paths() {
    for b in backends().await {
        let t = seed(&b).await;
        let s = &*b.store;
        assert_eq!(
            users(&b, t, r#"userName eq "BJENSEN""#).await,
            v(&["bjensen"])
        );
        assert_eq!(users(&b, t, r#"userName eq "ärger""#).await, v(&["Ärger"]));
        assert_eq!(users(&b, t, r#"userName sw "J""#).await, v(&["jsmith"]));
        assert_eq!(users(&b, t, r#"userName ew "EN""#).await, v(&["bjensen"]));
        assert_eq!(users(&b, t, r#"userName co "sMi""#).await, v(&["jsmith"]));
        assert_eq!(
            users(&b, t, r#"userName gt "jsmith""#).await,
            v(&["Ärger", "zed"])
        );
        assert_eq!(
            users(&b, t, r#"userName le "jsmith""#).await,
            v(&["bjensen", "jsmith"])
        );
        // externalId is caseExact.
        assert_eq!(
            users(&b, t, r#"externalId eq "E-1""#).await,
            v(&["bjensen"])
        );
        assert_eq!(users(&b, t, r#"externalId eq "e-1""#).await, v(&[]));
        assert_eq!(
            users(&b, t, r#"externalId pr"#).await,
            v(&["bjensen", "jsmith"])
        );
        assert_eq!(
            users(&b, t, r#"displayName eq "john smith""#).await,
            v(&["jsmith"])
        );
        assert_eq!(
            users(&b, t, r#"active eq true"#).await,
            v(&["bjensen", "Ärger"])
        );
        assert_eq!(users(&b, t, r#"active eq false"#).await, v(&["jsmith"]));
        assert_eq!(
            users(&b, t, r#"emails.value eq "bjensen@example.COM""#).await,
            v(&["bjensen"])
        );
        assert_eq!(
            users(&b, t, r#"emails[value eq "john@example.com"]"#).await,
            v(&["jsmith"])
        );
        assert_eq!(
            users(
                &b,
                t,
                r#"emails[type eq "work" and value eq "babs@home.example"]"#
            )
            .await,
            v(&[]),
            "the index finds the address, the evaluator sees it is not a work address"
        );
        assert_eq!(
            users(
                &b,
                t,
                r#"emails[type eq "home" and value eq "babs@home.example"]"#
            )
            .await,
            v(&["bjensen"])
        );
        assert_eq!(
            users(&b, t, r#"emails.value sw "JOHN@""#).await,
            v(&["jsmith"])
        );
        let first = s.list(t, Some("User"), &query("")).await.unwrap().resources;
        let id = &first[1].id;
        assert_eq!(
            users(&b, t, &format!(r#"id eq "{id}""#)).await,
            v(&["jsmith"])
        );
        // The n-th user was created at EPOCH + n s (+ n ms of clock reads).
        let c2 = ms(first[2].created);
        let at = |ms: i64| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        assert_eq!(
            users(&b, t, &format!(r#"meta.created ge "{}""#, at(c2))).await,
            v(&["Ärger", "zed"])
        );
        assert_eq!(
            users(&b, t, &format!(r#"meta.created gt "{}""#, at(c2))).await,
            v(&["zed"])
        );
        assert_eq!(
            users(&b, t, &format!(r#"meta.lastModified lt "{}""#, at(c2))).await,
            v(&["bjensen", "jsmith"])
        );
        assert_eq!(
            users(&b, t, &format!(r#"meta.created eq "{}""#, at(c2))).await,
            v(&["Ärger"])
        );
        // Groups by displayName, case-insensitively.
        let groups = s
            .list(t, Some("Group"), &query(r#"displayName eq "tour guides""#))
            .await
            .unwrap();
        assert_eq!(names(&groups.resources), v(&["Tour Guides"]));
    }
}

#[tokio::test]
async fn in_memory_fallbacks_and_combinations() {
    for b in backends().await {
        let t = seed(&b).await;
        assert_eq!(
            users(&b, t, r#"title eq "tour guide""#).await,
            v(&["bjensen"])
        );
        assert_eq!(
            users(&b, t, r#"name.familyName sw "S""#).await,
            v(&["jsmith"])
        );
        assert_eq!(users(&b, t, r#"title pr"#).await, v(&["bjensen"]));
        assert_eq!(
            users(&b, t, r#"not (title pr)"#).await,
            v(&["jsmith", "Ärger", "zed"])
        );
        assert_eq!(
            users(&b, t, r#"active eq true and name.familyName eq "ärger""#).await,
            v(&["Ärger"])
        );
        assert_eq!(
            users(&b, t, r#"userName eq "zed" or name.givenName eq "John""#).await,
            v(&["jsmith", "zed"])
        );
        assert_eq!(
            users(&b, t, r#"userName eq "zed" or externalId eq "E-1""#).await,
            v(&["bjensen", "zed"])
        );
        assert_eq!(
            users(&b, t, r#"not (active eq true)"#).await,
            v(&["jsmith", "zed"]),
            "missing active is not true"
        );
        assert_eq!(
            users(&b, t, r#"externalId ne "E-1""#).await,
            v(&["jsmith", "Ärger", "zed"])
        );
        assert_eq!(
            users(&b, t, r#"externalId eq null"#).await,
            v(&["Ärger", "zed"])
        );
        assert_eq!(
            users(
                &b,
                t,
                r#"(userName sw "b" or userName sw "j") and not (emails.value co "home")"#
            )
            .await,
            v(&["jsmith"])
        );
        assert_eq!(
            users(&b, t, r#"emails co "example.org""#).await,
            v(&["Ärger"])
        );
        assert_eq!(
            users(&b, t, r#"emails[type eq "work"]"#).await,
            v(&["bjensen", "Ärger"])
        );
    }
}

#[tokio::test]
async fn filters_across_types() {
    for b in backends().await {
        let t = seed(&b).await;
        let s = &*b.store;
        let all = list_names(
            s,
            t,
            None,
            &query(r#"externalId sw "G" or userName eq "zed""#),
        )
        .await;
        assert_eq!(
            all,
            v(&["Tour Guides", "zed"]),
            "default cross-type order: Groups, then Users"
        );
        let all = list_names(s, t, None, &query(r#"displayName co "o""#)).await;
        assert_eq!(all, v(&["Tour Guides", "jsmith"]));
        let page = s.list(t, None, &query("")).await.unwrap();
        assert_eq!(page.total, 6);
    }
}

/// An address several users share (in any case) finds each of them once, in the default
/// order, whether the page is the first, a later one by index, or a later one by cursor.
#[tokio::test]
async fn a_shared_address_finds_every_user_holding_it_once() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "shared").await;
        for (i, addr) in [
            "Desk@Example.com",
            "desk@example.COM",
            "other@example.com",
            "DESK@example.com",
        ]
        .into_iter()
        .enumerate()
        {
            s.create(
                t,
                "User",
                json!({"schemas": [scim::urn::USER], "userName": format!("u{i}"),
                       "emails": [{"value": addr, "type": "work"},
                                  {"value": format!("u{i}@example.com"), "type": "home"}]}),
                vec![],
            )
            .await
            .unwrap();
        }
        let f = r#"emails.value eq "desk@EXAMPLE.com""#;
        assert_eq!(users(&b, t, f).await, v(&["u0", "u1", "u3"]), "{}", b.name);

        let second = Query {
            start_index: 2,
            count: 1,
            ..query(f)
        };
        let page = s.list(t, Some("User"), &second).await.unwrap();
        assert_eq!((page.total, names(&page.resources)), (3, v(&["u1"])));

        let mut seen = Vec::new();
        let mut cursor = Some(String::new());
        while let Some(c) = cursor {
            let q = Query {
                count: 2,
                cursor: Some(c),
                ..query(f)
            };
            let page = s.list(t, Some("User"), &q).await.unwrap();
            assert_eq!(page.total, 3);
            seen.extend(names(&page.resources));
            cursor = page.next_cursor;
        }
        assert_eq!(seen, v(&["u0", "u1", "u3"]), "{}", b.name);

        // Sorted by another attribute, from the end, on pages by cursor.
        let mut seen = Vec::new();
        let mut cursor = Some(String::new());
        while let Some(c) = cursor {
            let q = Query {
                sort_by: Some(scim::AttrPath::parse("userName").unwrap()),
                sort_order: store::SortOrder::Descending,
                count: 2,
                cursor: Some(c),
                ..query(f)
            };
            let page = s.list(t, Some("User"), &q).await.unwrap();
            seen.extend(names(&page.resources));
            cursor = page.next_cursor;
        }
        assert_eq!(seen, v(&["u3", "u1", "u0"]), "{}", b.name);
    }
}
