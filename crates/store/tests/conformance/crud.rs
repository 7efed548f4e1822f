//! Create, read, modify, delete; versions, preconditions, uniqueness, the change feed.

use serde_json::Value;
use serde_json::json;
use store::{ChangeOp, Load, Modification, NewDoc, Precondition, StoreError};

use super::*;

#[tokio::test]
async fn create_then_get_returns_the_document_and_meta() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let doc = json!({"schemas": [scim::urn::USER], "userName": "bjensen", "active": true});
        let created = s.create(t, "User", doc.clone(), vec![]).await.unwrap();
        assert_eq!(created.version, 1, "{}", b.name);
        assert_eq!(created.kind, "User");
        assert_eq!(created.created, created.last_modified);
        assert_eq!(uuid_version(&created.id), Some(7));
        let got = s
            .get(t, "User", &created.id, Load::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.doc, doc);
        assert_eq!(got.version, 1);
        assert_eq!(got.created, created.created);
        assert_eq!(got.members, None);
        assert_eq!(got.groups, None);
        // The resource-type name is matched case-insensitively, as endpoints are.
        assert!(
            s.get(t, "user", &created.id, Load::default())
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            s.get(t, "Group", &created.id, Load::default())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.get(t, "User", "nope", Load::default())
                .await
                .unwrap()
                .is_none()
        );
    }
}

fn uuid_version(id: &str) -> Option<u8> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (hex.len() == 32).then(|| u8::from_str_radix(&hex[12..13], 16).ok())?
}

#[tokio::test]
async fn timestamps_have_millisecond_precision() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("a"), vec![]).await.unwrap();
        assert_eq!(u.created.nanosecond() % 1_000_000, 0);
        assert!(ms(u.created) >= EPOCH_MS);
    }
}

#[tokio::test]
async fn modify_bumps_the_version_only_when_something_changes() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        b.tick(1000);
        let v2 = edit(s, t, "User", &u.id, |d| d["title"] = json!("Boss"))
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(v2.doc["title"], "Boss");
        assert!(v2.last_modified > u.last_modified);
        assert_eq!(v2.created, u.created);

        // The same document again: nothing written, same version and time.
        let same = edit(s, t, "User", &u.id, |d| d["title"] = json!("Boss"))
            .await
            .unwrap();
        assert_eq!(same.version, 2);
        assert_eq!(same.last_modified, v2.last_modified);
        // No document at all: likewise.
        let none = s
            .modify(
                t,
                "User",
                &u.id,
                Precondition::None,
                Load::default(),
                Box::new(move |_| Ok(Modification::default())),
            )
            .await
            .unwrap();
        assert_eq!(none.version, 2);

        let got = s
            .get(t, "User", &u.id, Load::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.version, 2);
        assert_eq!(got.doc["title"], "Boss");
        assert_eq!(got.last_modified, v2.last_modified);

        let feed = s.changes(t, 0, 100).await.unwrap();
        assert_eq!(
            change_ops(&feed),
            vec![
                ("User".into(), ChangeOp::Create, 1),
                ("User".into(), ChangeOp::Update, 2)
            ]
        );
    }
}

#[tokio::test]
async fn an_error_inside_modify_writes_nothing() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        let err = s
            .modify(
                t,
                "User",
                &u.id,
                Precondition::None,
                Load::default(),
                Box::new(move |_| Err(scim::Error::Mutability("id is readOnly".into()).into())),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Scim(scim::Error::Mutability(_))));
        let got = s
            .get(t, "User", &u.id, Load::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.version, 1);
        // The writer is free again.
        edit(s, t, "User", &u.id, |d| d["title"] = json!("x"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn preconditions_guard_modify_and_delete() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        let stale = s
            .modify(
                t,
                "User",
                &u.id,
                Precondition::Version(7),
                Load::default(),
                Box::new(move |c| {
                    let mut d = c.doc.clone();
                    d["title"] = json!("x");
                    Ok(Modification {
                        doc: Some(d.into()),
                        members: vec![],
                    })
                }),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(stale, StoreError::PreconditionFailed { current: 1 }),
            "{stale:?}"
        );
        let ok = s
            .modify(
                t,
                "User",
                &u.id,
                Precondition::Version(1),
                Load::default(),
                Box::new(move |c| {
                    let mut d = c.doc.clone();
                    d["title"] = json!("x");
                    Ok(Modification {
                        doc: Some(d.into()),
                        members: vec![],
                    })
                }),
            )
            .await
            .unwrap();
        assert_eq!(ok.version, 2);
        let err = s
            .delete(t, "User", &u.id, Precondition::Version(1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::PreconditionFailed { current: 2 }));
        s.delete(t, "User", &u.id, Precondition::Version(2))
            .await
            .unwrap();
        assert!(
            s.get(t, "User", &u.id, Load::default())
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn missing_resources_are_not_found() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let err = edit(s, t, "User", "missing", |_| {}).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
        assert_eq!(err.to_string(), "User missing not found");
        let err = s
            .delete(t, "Group", "missing", Precondition::None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }));
    }
}

#[tokio::test]
async fn delete_removes_and_records() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        s.delete(t, "User", &u.id, Precondition::None)
            .await
            .unwrap();
        assert!(
            s.get(t, "User", &u.id, Load::default())
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            s.delete(t, "User", &u.id, Precondition::None).await,
            Err(StoreError::NotFound { .. })
        ));
        // The name is free again.
        s.create(t, "User", user("BJensen"), vec![]).await.unwrap();
        let feed = s.changes(t, 0, 100).await.unwrap();
        assert_eq!(feed[1].op, ChangeOp::Delete);
        assert_eq!(feed[1].id, u.id);
        assert_eq!(feed[1].version, 1);
        assert_eq!(s.list(t, Some("User"), &query("")).await.unwrap().total, 1);
    }
}

#[tokio::test]
async fn user_name_is_unique_case_insensitively() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        let err = s
            .create(t, "User", user("BJensen"), vec![])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Uniqueness(_)), "{err:?}");
        assert_eq!(err.to_string(), "userName 'BJensen' is already taken");

        // Renaming onto a taken name fails and leaves the resource as it was.
        let other = s.create(t, "User", user("jsmith"), vec![]).await.unwrap();
        let err = edit(s, t, "User", &other.id, |d| {
            d["userName"] = json!("BJENSEN")
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "userName 'BJENSEN' is already taken");
        let got = s
            .get(t, "User", &other.id, Load::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.doc["userName"], "jsmith");
        assert_eq!(got.version, 1);
        // Nor did the refused rename reach the change feed.
        let feed = s.changes(t, 0, 100).await.unwrap();
        assert!(
            feed.iter()
                .all(|c| !(c.id == other.id && c.op == ChangeOp::Update)),
            "{feed:?}"
        );

        // Changing only the case of one's own name is allowed.
        let renamed = edit(s, t, "User", &other.id, |d| d["userName"] = json!("JSmith"))
            .await
            .unwrap();
        assert_eq!(renamed.version, 2);

        // Non-ASCII names fold too.
        s.create(t, "User", user("ÉLODIE"), vec![]).await.unwrap();
        let err = s
            .create(t, "User", user("élodie"), vec![])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Uniqueness(_)));
    }
}

#[tokio::test]
async fn group_display_name_is_unique_and_separate_from_user_names() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        s.create(t, "Group", group("Admins"), vec![]).await.unwrap();
        let err = s
            .create(t, "Group", group("admins"), vec![])
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "displayName 'admins' is already taken");
        // A user may be called like a group.
        s.create(t, "User", user("admins"), vec![]).await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_user_name_give_exactly_one_success() {
    for b in backends().await {
        let t = tenant(&*b.store, "acme").await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = b.store.clone();
            let name = if i % 2 == 0 { "race" } else { "RACE" };
            tasks.push(tokio::spawn(async move {
                s.create(t, "User", user(name), vec![]).await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Uniqueness(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 1, "{}", b.name);
        assert_eq!(
            b.store
                .list(t, Some("User"), &query(""))
                .await
                .unwrap()
                .total,
            1
        );
    }
}

#[tokio::test]
async fn concurrent_modifies_do_not_lose_updates() {
    for b in backends().await {
        let t = tenant(&*b.store, "acme").await;
        let u = b
            .store
            .create(
                t,
                "User",
                json!({"schemas": [scim::urn::USER], "userName": "n", "counter": 0}),
                vec![],
            )
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let s = b.store.clone();
            let id = u.id.clone();
            tasks.push(tokio::spawn(async move {
                edit(&*s, t, "User", &id, |d| {
                    let n = d["counter"].as_i64().unwrap_or(0);
                    d["counter"] = json!(n + 1);
                })
                .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let got = b
            .store
            .get(t, "User", &u.id, Load::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.doc["counter"], 20);
        assert_eq!(got.version, 21);
    }
}

#[tokio::test]
async fn change_feed_is_ordered_paged_and_complete() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("a"), vec![]).await.unwrap();
        let g = s
            .create(t, "Group", group("g"), vec![u.id.clone()])
            .await
            .unwrap();
        edit(s, t, "User", &u.id, |d| d["title"] = json!("x"))
            .await
            .unwrap();
        s.delete(t, "Group", &g.id, Precondition::None)
            .await
            .unwrap();
        let all = s.changes(t, 0, 100).await.unwrap();
        assert_eq!(
            all.iter()
                .map(|c| (c.kind.as_str(), c.id.as_str(), c.op, c.version))
                .collect::<Vec<_>>(),
            vec![
                ("User", u.id.as_str(), ChangeOp::Create, 1),
                ("Group", g.id.as_str(), ChangeOp::Create, 1),
                ("User", u.id.as_str(), ChangeOp::Update, 2),
                ("Group", g.id.as_str(), ChangeOp::Delete, 1),
            ]
        );
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(all.iter().all(|c| c.tenant == t));
        // Paging from a watermark.
        let first = s.changes(t, 0, 2).await.unwrap();
        assert_eq!(first.len(), 2);
        let rest = s.changes(t, first[1].seq, 100).await.unwrap();
        assert_eq!(rest, all[2..].to_vec());
        assert!(s.changes(t, all[3].seq, 100).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn ping_answers() {
    for b in backends().await {
        b.store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn create_many_keeps_items_independent() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        s.create(t, "User", user("taken"), vec![]).await.unwrap();
        let items = vec![
            (user("a"), vec![]),
            (user("TAKEN"), vec![]),
            (user("b"), vec![]),
            (user("A"), vec![]),
            (user("c"), vec![]),
        ];
        let out = s.create_many(t, "User", items.clone(), None).await.unwrap();
        assert_eq!(out.len(), 5);
        assert!(out[0].is_ok() && out[2].is_ok() && out[4].is_ok());
        assert_eq!(
            out[1].as_ref().unwrap_err().to_string(),
            "userName 'TAKEN' is already taken"
        );
        assert_eq!(
            out[3].as_ref().unwrap_err().to_string(),
            "userName 'A' is already taken",
            "items see the items before them"
        );
        let names = list_names(s, t, Some("User"), &query("")).await;
        assert_eq!(names, vec!["taken", "a", "b", "c"]);
        let feed = s.changes(t, 0, 100).await.unwrap();
        assert_eq!(feed.len(), 4);
        assert!(feed.iter().all(|c| c.op == ChangeOp::Create));

        // Groups with members; a failing member list leaves no group behind.
        let a = out[0].as_ref().unwrap().id.clone();
        let groups = s
            .create_many(
                t,
                "Group",
                vec![
                    (group("G1"), vec![a.clone()]),
                    (group("G2"), vec![a.clone(), "ghost".into()]),
                    (group("G3"), vec![]),
                ],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            groups[0].as_ref().unwrap().members.as_ref().unwrap().len(),
            1
        );
        assert!(matches!(groups[1], Err(StoreError::InvalidMember(_))));
        assert!(groups[2].is_ok());
        assert_eq!(
            list_names(s, t, Some("Group"), &query("")).await,
            vec!["G1", "G3"]
        );

        // Stopping after the first failure.
        let out = s
            .create_many(
                t,
                "User",
                vec![
                    (user("d"), vec![]),
                    (user("a"), vec![]),
                    (user("e"), vec![]),
                ],
                Some(1),
            )
            .await
            .unwrap();
        assert_eq!(out.len(), 2);
        assert!(
            s.list(t, Some("User"), &query(r#"userName eq "e""#))
                .await
                .unwrap()
                .resources
                .is_empty()
        );
        assert_eq!(s.list(t, Some("User"), &query("")).await.unwrap().total, 5);
    }
}

#[tokio::test]
async fn writes_wake_change_feed_subscribers() {
    use std::time::Duration;
    // PostgreSQL wakes subscribers through LISTEN/NOTIFY, which arrives shortly after the
    // commit: wait for wake-ups instead of expecting them synchronously, and let late ones
    // settle before checking that a no-op write wakes nobody.
    async fn woken(rx: &mut tokio::sync::watch::Receiver<u64>) {
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("a write wakes subscribers")
            .unwrap();
    }
    async fn settle(rx: &mut tokio::sync::watch::Receiver<u64>) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        rx.mark_unchanged();
    }
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let mut rx = s.subscribe_changes();
        rx.mark_unchanged();
        let u = s.create(t, "User", user("a"), vec![]).await.unwrap();
        woken(&mut rx).await;
        settle(&mut rx).await;
        // A write that changes nothing wakes nobody.
        edit(s, t, "User", &u.id, |_| {}).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!rx.has_changed().unwrap());
        edit(s, t, "User", &u.id, |d| d["title"] = json!("x"))
            .await
            .unwrap();
        woken(&mut rx).await;
        settle(&mut rx).await;
        s.delete(t, "User", &u.id, Precondition::None)
            .await
            .unwrap();
        woken(&mut rx).await;
    }
}

/// A PATCH made on the stored text rewrites only some members; the indexed columns follow the
/// rewritten ones and keep the others. SQLite hands the text over when asked; PostgreSQL
/// hands the parsed document, and a text answer is parsed back.
#[tokio::test]
async fn a_document_rewritten_as_text_moves_its_indexed_columns() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let mut doc = user("bjensen");
        doc["externalId"] = json!("701984");
        doc["title"] = json!("Guide");
        doc["emails"] = json!([{"value": "old@x.org", "type": "work"}]);
        let u = s.create(t, "User", doc, vec![]).await.unwrap();
        let rewrite = |ops: Value| -> store::Modify {
            Box::new(move |c| {
                let registry = scim::Registry::rfc7643();
                let rt = registry.resource_type("User").unwrap();
                let text = match (&c.raw, &c.doc) {
                    (Some(text), Value::Null) => text.clone(),
                    (_, doc) => serde_json::to_string(doc).unwrap(),
                };
                let req: scim::messages::PatchRequest = scim::messages::from_value(json!({
                    "schemas": [scim::urn::PATCH_OP], "Operations": ops,
                }))?;
                let ops = scim::patch::parse_operations(&req)?;
                let limits = scim::validate::Limits::default();
                let out = scim::patch::apply_to_text(&registry, rt, &text, &ops, &limits)?;
                let doc = match out.expect("the text path applies") {
                    scim::patch::TextOutcome::Unchanged => None,
                    scim::patch::TextOutcome::Changed(r) => Some(NewDoc::Rewritten(r)),
                };
                Ok(Modification {
                    doc,
                    members: vec![],
                })
            })
        };
        let raw = Load {
            raw: true,
            ..Load::default()
        };
        let ops = json!([
            {"op": "replace", "path": "userName", "value": "babs"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x.org"},
        ]);
        let got = s
            .modify(t, "User", &u.id, Precondition::None, raw, rewrite(ops))
            .await
            .unwrap();
        assert_eq!(got.version, 2, "{}", b.name);
        let found =
            |f: &'static str| async move { list_names(s, t, Some("User"), &query(f)).await };
        assert_eq!(found("userName eq \"babs\"").await, ["babs"], "{}", b.name);
        assert!(
            found("userName eq \"bjensen\"").await.is_empty(),
            "{}",
            b.name
        );
        assert_eq!(found("emails.value eq \"new@x.org\"").await, ["babs"]);
        assert!(found("emails.value eq \"old@x.org\"").await.is_empty());
        // The members the operations did not name keep their values and their columns.
        assert_eq!(
            found("externalId eq \"701984\"").await,
            ["babs"],
            "{}",
            b.name
        );
        let stored = s
            .get(t, "User", &u.id, Load::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.doc["title"], "Guide");
        assert_eq!(stored.doc["emails"][0]["value"], "new@x.org");
        // A rewrite that changes nothing writes no version.
        let same = json!([{"op": "replace", "path": "title", "value": "Guide"}]);
        let got = s
            .modify(t, "User", &u.id, Precondition::None, raw, rewrite(same))
            .await
            .unwrap();
        assert_eq!(got.version, 2, "{}", b.name);
        // A taken name is refused as with a whole document.
        s.create(t, "User", user("carol"), vec![]).await.unwrap();
        let taken = json!([{"op": "replace", "path": "userName", "value": "CAROL"}]);
        let err = s
            .modify(t, "User", &u.id, Precondition::None, raw, rewrite(taken))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Uniqueness(_)),
            "{}: {err:?}",
            b.name
        );
    }
}
