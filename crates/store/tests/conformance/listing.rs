//! Sorting, index paging and cursors.

use std::collections::HashSet;

use serde_json::json;
use store::{Load, Page, Query, SortOrder, StoreError};

use super::*;

/// 23 users: every third without externalId, family names in reverse order of creation.
async fn seed(b: &Backend) -> TenantId {
    let s = &*b.store;
    let t = tenant(s, "acme").await;
    for i in 0..23 {
        let mut doc = json!({
            "schemas": [scim::urn::USER],
            "userName": format!("user{i:02}"),
            "name": {"familyName": format!("F{:02}", 22 - i)},
        });
        if i % 3 != 0 {
            doc["externalId"] = json!(format!("x{:02}", (i * 7) % 23));
        }
        s.create(t, "User", doc, vec![]).await.unwrap();
        b.tick(10);
    }
    t
}

fn sorted_query(by: &str, order: SortOrder) -> Query {
    Query {
        sort_by: Some(scim::AttrPath::parse(by).unwrap()),
        sort_order: order,
        ..query("")
    }
}

fn external_ids(page: &Page) -> Vec<Option<String>> {
    page.resources
        .iter()
        .map(|r| r.doc["externalId"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn sort_by_indexed_and_in_memory_attributes() {
    for b in backends().await {
        let t = seed(&b).await;
        let s = &*b.store;
        let all: Vec<String> = (0..23).map(|i| format!("user{i:02}")).collect();
        let mut rev = all.clone();
        rev.reverse();

        let q = sorted_query("userName", SortOrder::Ascending);
        assert_eq!(list_names(s, t, Some("User"), &q).await, all);
        let q = sorted_query("userName", SortOrder::Descending);
        assert_eq!(list_names(s, t, Some("User"), &q).await, rev);
        let q = sorted_query("meta.created", SortOrder::Descending);
        assert_eq!(list_names(s, t, Some("User"), &q).await, rev);
        // In memory: no column holds name.familyName.
        let q = sorted_query("name.familyName", SortOrder::Ascending);
        assert_eq!(list_names(s, t, Some("User"), &q).await, rev);

        // Missing values last ascending, first descending (RFC 7644 §3.4.2.3).
        let page = s
            .list(
                t,
                Some("User"),
                &sorted_query("externalId", SortOrder::Ascending),
            )
            .await
            .unwrap();
        let ext = external_ids(&page);
        let present: Vec<_> = ext.iter().take_while(|e| e.is_some()).cloned().collect();
        assert_eq!(present.len(), 15);
        let mut want = present.clone();
        want.sort();
        assert_eq!(present, want);
        assert!(ext[15..].iter().all(Option::is_none));
        let desc = s
            .list(
                t,
                Some("User"),
                &sorted_query("externalId", SortOrder::Descending),
            )
            .await
            .unwrap();
        let mut reversed = external_ids(&desc);
        reversed.reverse();
        assert_eq!(reversed, ext);

        let err = s
            .list(t, Some("User"), &sorted_query("nope", SortOrder::Ascending))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Scim(scim::Error::InvalidValue(_))),
            "{err:?}"
        );
    }
}

/// Pages through `q` with `startIndex`/`count` and checks the windows cover the full result
/// exactly once, in order.
async fn check_windows(s: &dyn Store, t: TenantId, q: &Query, size: u64) {
    let full = s.list(t, Some("User"), q).await.unwrap();
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let page = s
            .list(
                t,
                Some("User"),
                &Query {
                    start_index: start,
                    count: size,
                    ..q.clone()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, full.total);
        assert!(page.resources.len() as u64 <= size);
        assert_eq!(page.next_cursor, None);
        if page.resources.is_empty() {
            break;
        }
        seen.extend(page.resources.into_iter().map(|r| r.id));
        start += size;
    }
    let want: Vec<String> = full.resources.into_iter().map(|r| r.id).collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn index_paging_windows_cover_the_set_exactly() {
    for b in backends().await {
        let t = seed(&b).await;
        let s = &*b.store;
        for size in [1, 5, 7, 23, 50] {
            check_windows(s, t, &query(""), size).await;
            check_windows(
                s,
                t,
                &sorted_query("externalId", SortOrder::Ascending),
                size,
            )
            .await;
            check_windows(
                s,
                t,
                &sorted_query("externalId", SortOrder::Descending),
                size,
            )
            .await;
            check_windows(
                s,
                t,
                &sorted_query("name.familyName", SortOrder::Ascending),
                size,
            )
            .await;
            // Exact, and finished in memory.
            check_windows(s, t, &query(r#"userName sw "user1""#), size).await;
            check_windows(
                s,
                t,
                &Query {
                    sort_by: Some(scim::AttrPath::parse("externalId").unwrap()),
                    ..query(r#"userName sw "user" and name.familyName lt "F15""#)
                },
                size,
            )
            .await;
        }
        // Past the end: the total, no resources.
        let page = s
            .list(
                t,
                Some("User"),
                &Query {
                    start_index: 100,
                    count: 10,
                    ..query("")
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 23);
        assert!(page.resources.is_empty());
        // count=0: only the total.
        let page = s
            .list(
                t,
                Some("User"),
                &Query {
                    count: 0,
                    ..query(r#"userName sw "user0""#)
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 10);
        assert!(page.resources.is_empty());
        // startIndex below 1 is read as 1.
        let page = s
            .list(
                t,
                Some("User"),
                &Query {
                    start_index: 0,
                    count: 2,
                    ..query("")
                },
            )
            .await
            .unwrap();
        assert_eq!(names(&page.resources), vec!["user00", "user01"]);
    }
}

/// Follows cursors from the first page to the last, returning the ids in order.
async fn walk(s: &dyn Store, t: TenantId, q: &Query, size: u64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = Some(String::new());
    let mut pages = 0;
    while let Some(c) = cursor {
        let page = s
            .list(
                t,
                Some("User"),
                &Query {
                    cursor: Some(c),
                    count: size,
                    ..q.clone()
                },
            )
            .await
            .unwrap();
        ids.extend(page.resources.iter().map(|r| r.id.clone()));
        cursor = page.next_cursor;
        pages += 1;
        assert!(pages < 1000, "cursor loop");
    }
    ids
}

#[tokio::test]
async fn cursors_walk_every_order_exactly_once() {
    for b in backends().await {
        let t = seed(&b).await;
        let s = &*b.store;
        let queries = [
            query(""),
            sorted_query("userName", SortOrder::Descending),
            sorted_query("externalId", SortOrder::Ascending),
            sorted_query("externalId", SortOrder::Descending),
            sorted_query("name.familyName", SortOrder::Ascending),
            query(r#"externalId pr"#),
            query(r#"name.familyName ge "F05""#),
            Query {
                sort_by: Some(scim::AttrPath::parse("externalId").unwrap()),
                sort_order: SortOrder::Descending,
                ..query(r#"name.familyName ge "F05""#)
            },
        ];
        for q in &queries {
            let full: Vec<String> = s
                .list(t, Some("User"), q)
                .await
                .unwrap()
                .resources
                .into_iter()
                .map(|r| r.id)
                .collect();
            for size in [1, 4, 23, 30] {
                assert_eq!(walk(s, t, q, size).await, full, "{q:?} by {size}");
            }
        }
    }
}

#[tokio::test]
async fn cursors_are_stable_under_concurrent_inserts() {
    for b in backends().await {
        let t = seed(&b).await;
        let s = &*b.store;
        let mut made = 0;
        for q in [query(""), sorted_query("externalId", SortOrder::Ascending)] {
            let before: Vec<String> = s
                .list(t, Some("User"), &q)
                .await
                .unwrap()
                .resources
                .into_iter()
                .map(|r| r.id)
                .collect();
            let mut seen = Vec::new();
            let mut cursor = Some(String::new());
            let mut n = 0;
            while let Some(c) = cursor {
                let page = s
                    .list(
                        t,
                        Some("User"),
                        &Query {
                            cursor: Some(c),
                            count: 4,
                            ..q.clone()
                        },
                    )
                    .await
                    .unwrap();
                seen.extend(page.resources.iter().map(|r| r.id.clone()));
                cursor = page.next_cursor;
                // Insert between pages, some sorting before the cursor, some after.
                let ext = if n % 2 == 0 { "a" } else { "zz" };
                s.create(
                    t,
                    "User",
                    json!({"schemas": [scim::urn::USER], "userName": format!("new-{made}"), "externalId": format!("{ext}{n}")}),
                    vec![],
                )
                .await
                .unwrap();
                n += 1;
                made += 1;
            }
            let unique: HashSet<&String> = seen.iter().collect();
            assert_eq!(unique.len(), seen.len(), "no resource twice");
            for id in &before {
                assert!(
                    seen.contains(id),
                    "every resource present at the start is seen"
                );
            }
        }
    }
}

#[tokio::test]
async fn foreign_or_garbled_cursors_are_refused() {
    for b in backends().await {
        let t = seed(&b).await;
        let s = &*b.store;
        let page = s
            .list(
                t,
                Some("User"),
                &Query {
                    cursor: Some(String::new()),
                    count: 2,
                    ..query("")
                },
            )
            .await
            .unwrap();
        let cursor = page.next_cursor.unwrap();
        let other = Query {
            cursor: Some(cursor.clone()),
            count: 2,
            ..sorted_query("userName", SortOrder::Ascending)
        };
        assert!(matches!(
            s.list(t, Some("User"), &other).await,
            Err(StoreError::InvalidCursor(_))
        ));
        for junk in ["%%%", "bm9wZQ", "eyJmIjoxfQ"] {
            let q = Query {
                cursor: Some(junk.into()),
                count: 2,
                ..query("")
            };
            assert!(matches!(
                s.list(t, Some("User"), &q).await,
                Err(StoreError::InvalidCursor(_))
            ));
        }
        // Extreme counts and start indexes are just large.
        for cursor in [None, Some(String::new())] {
            let q = Query {
                cursor,
                count: u64::MAX,
                start_index: u64::MAX,
                ..query("")
            };
            let page = s.list(t, Some("User"), &q).await.unwrap();
            assert_eq!(page.total, 23);
        }
        // The last page has no next cursor; a count of 0 gives none either.
        let q = Query {
            cursor: Some(String::new()),
            count: 50,
            ..query("")
        };
        assert_eq!(s.list(t, Some("User"), &q).await.unwrap().next_cursor, None);
    }
}

#[tokio::test]
async fn list_loads_members_and_groups_on_request() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("u"), vec![]).await.unwrap();
        s.create(t, "Group", group("g"), vec![u.id.clone()])
            .await
            .unwrap();
        let load = Load {
            members: true,
            groups: true,
            raw: false,
        };
        let page = s.list(t, None, &Query { load, ..query("") }).await.unwrap();
        assert_eq!(page.resources[0].kind, "Group");
        assert_eq!(page.resources[0].members.as_ref().unwrap().len(), 1);
        assert_eq!(page.resources[1].groups.as_ref().unwrap().len(), 1);
        let page = s.list(t, None, &query("")).await.unwrap();
        assert!(
            page.resources
                .iter()
                .all(|r| r.members.is_none() && r.groups.is_none())
        );
    }
}

#[tokio::test]
async fn inexact_filters_and_memory_sorts_over_many_chunks() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let items = (0..700)
            .map(|i| {
                let doc = json!({
                    "schemas": [scim::urn::USER],
                    "userName": format!("u{i:03}"),
                    "title": if i % 3 == 0 { "odd" } else { "even" },
                    "name": {"familyName": format!("{:03}", (i * 37) % 700)},
                });
                (doc, vec![])
            })
            .collect();
        let made = s.create_many(t, "User", items, None).await.unwrap();
        assert!(made.iter().all(Result::is_ok));
        let q = query(r#"title eq "odd""#);
        let full = s.list(t, Some("User"), &q).await.unwrap();
        assert_eq!(full.total, 234);
        let want: Vec<String> = (0..700)
            .filter(|i| i % 3 == 0)
            .map(|i| format!("u{i:03}"))
            .collect();
        assert_eq!(names(&full.resources), want);
        check_windows(s, t, &q, 100).await;
        let ids: Vec<String> = full.resources.iter().map(|r| r.id.clone()).collect();
        assert_eq!(walk(s, t, &q, 100).await, ids);
        assert_eq!(walk(s, t, &q, 7).await, ids);

        let sorted = Query {
            sort_by: Some(scim::AttrPath::parse("name.familyName").unwrap()),
            sort_order: SortOrder::Descending,
            ..q.clone()
        };
        let page = s.list(t, Some("User"), &sorted).await.unwrap();
        let families: Vec<String> = page
            .resources
            .iter()
            .map(|r| r.doc["name"]["familyName"].as_str().unwrap().to_owned())
            .collect();
        let mut want = families.clone();
        want.sort();
        want.reverse();
        assert_eq!(families, want);
        check_windows(s, t, &sorted, 50).await;
        let ids: Vec<String> = page.resources.iter().map(|r| r.id.clone()).collect();
        assert_eq!(walk(s, t, &sorted, 50).await, ids);
    }
}

/// `Load::raw`: a list SQL answers alone may hand the stored text on unparsed, and that text is
/// the document; a list the evaluator finishes in memory parses every document it reads.
#[tokio::test]
async fn raw_documents_are_the_stored_text() {
    for b in backends().await {
        let s = &*b.store;
        let t = seed(&b).await;
        let raw = Load {
            raw: true,
            ..Load::default()
        };
        for (f, exact) in [
            (r#"userName eq "user05""#, true),
            ("", true),
            (r#"name.familyName eq "F17""#, false),
        ] {
            let page = s
                .list(
                    t,
                    Some("User"),
                    &Query {
                        load: raw,
                        ..query(f)
                    },
                )
                .await
                .unwrap();
            assert!(!page.resources.is_empty(), "{}: {f}", b.name);
            for r in &page.resources {
                // Both backends list through the shared listing code, which honours `raw`.
                assert_eq!(r.raw.is_some(), exact, "{}: {f}", b.name);
                match &r.raw {
                    Some(text) => {
                        assert!(exact, "{}: {f} gave raw text", b.name);
                        assert_eq!(r.doc, Value::Null);
                        let doc: Value = serde_json::from_str(text).unwrap();
                        let parsed = s.get(t, "User", &r.id, Load::default()).await.unwrap();
                        assert_eq!(doc, parsed.unwrap().doc, "{}: {f}", b.name);
                    }
                    None => assert!(r.doc.is_object(), "{}: {f}", b.name),
                }
            }
        }
    }
}
