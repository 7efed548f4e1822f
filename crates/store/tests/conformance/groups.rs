//! Membership: deltas, versions, nesting, `User.groups`, deletion.

use store::{ChangeOp, GroupRef, Load, Member, MemberChange, Precondition, StoreError};

use super::*;

const ALL: Load = Load {
    members: true,
    groups: true,
    raw: false,
};

fn member_ids(s: &Stored) -> Vec<String> {
    let mut ids: Vec<String> = s
        .members
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.value.clone())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn create_with_members_and_read_them_back() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        let inner = s.create(t, "Group", group("Inner"), vec![]).await.unwrap();
        let g = s
            .create(
                t,
                "Group",
                group("Outer"),
                vec![u.id.clone(), inner.id.clone(), u.id.clone()],
            )
            .await
            .unwrap();
        assert_eq!(g.members.as_ref().unwrap().len(), 2, "duplicates collapse");
        let got = s.get(t, "Group", &g.id, ALL).await.unwrap().unwrap();
        assert_eq!(
            got.members.unwrap(),
            vec![
                Member {
                    value: u.id.clone(),
                    kind: "User".into(),
                    display: Some("bjensen".into())
                },
                Member {
                    value: inner.id.clone(),
                    kind: "Group".into(),
                    display: Some("Inner".into())
                },
            ]
        );
        // Members are not read unless asked for.
        let bare = s
            .get(t, "Group", &g.id, Load::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bare.members, None);
        // The document never holds them.
        assert!(bare.doc.get("members").is_none());
    }
}

#[tokio::test]
async fn unknown_members_are_rejected() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let err = s
            .create(t, "Group", group("G"), vec!["ghost".into()])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidMember(_)));
        assert_eq!(err.to_string(), "member 'ghost' does not exist");
        // Nothing was created.
        assert_eq!(s.list(t, Some("Group"), &query("")).await.unwrap().total, 0);
        let g = s.create(t, "Group", group("G"), vec![]).await.unwrap();
        let err = members(s, t, &g.id, vec![MemberChange::Add(vec!["ghost".into()])])
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "member 'ghost' does not exist");
        // A change that adds a real member before the missing one writes nothing either.
        let real = s.create(t, "User", user("real"), vec![]).await.unwrap();
        let err = members(
            s,
            t,
            &g.id,
            vec![MemberChange::Add(vec![real.id.clone(), "ghost".into()])],
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "member 'ghost' does not exist");
        let load = Load {
            members: true,
            ..Load::default()
        };
        let got = s.get(t, "Group", &g.id, load).await.unwrap().unwrap();
        assert_eq!((got.version, got.members.map(|m| m.len())), (1, Some(0)));
        // A user cannot have members.
        let u = s.create(t, "User", user("u"), vec![]).await.unwrap();
        let err = s
            .create(t, "User", user("v"), vec![u.id.clone()])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidMember(_)));
    }
}

#[tokio::test]
async fn add_remove_and_remove_all_are_deltas() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                s.create(t, "User", user(&format!("u{i}")), vec![])
                    .await
                    .unwrap()
                    .id,
            );
        }
        let g = s.create(t, "Group", group("G"), vec![]).await.unwrap();
        let after = s.changes(t, 0, 100).await.unwrap().last().unwrap().seq;

        let r = members(s, t, &g.id, vec![MemberChange::Add(ids[..3].to_vec())])
            .await
            .unwrap();
        assert_eq!(r.version, 2);
        assert_eq!(member_ids(&r), sorted(ids[..3].to_vec()));

        // Adding existing members changes nothing.
        let r = members(s, t, &g.id, vec![MemberChange::Add(ids[..2].to_vec())])
            .await
            .unwrap();
        assert_eq!(r.version, 2);

        // Removing absent ones (or unknown ids) changes nothing either.
        let r = members(
            s,
            t,
            &g.id,
            vec![MemberChange::Remove(vec![ids[4].clone(), "ghost".into()])],
        )
        .await
        .unwrap();
        assert_eq!(r.version, 2);

        // Several deltas in one write: one version.
        let r = members(
            s,
            t,
            &g.id,
            vec![
                MemberChange::Remove(vec![ids[0].clone()]),
                MemberChange::Add(vec![ids[3].clone(), ids[4].clone()]),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.version, 3);
        assert_eq!(member_ids(&r), sorted(ids[1..].to_vec()));

        let r = members(s, t, &g.id, vec![MemberChange::RemoveAll])
            .await
            .unwrap();
        assert_eq!(r.version, 4);
        assert!(r.members.unwrap().is_empty());
        let r = members(s, t, &g.id, vec![MemberChange::RemoveAll])
            .await
            .unwrap();
        assert_eq!(r.version, 4);

        let feed = s.changes(t, after, 100).await.unwrap();
        assert_eq!(
            change_ops(&feed),
            vec![
                ("Group".into(), ChangeOp::Update, 2),
                ("Group".into(), ChangeOp::Update, 3),
                ("Group".into(), ChangeOp::Update, 4)
            ]
        );
    }
}

#[tokio::test]
async fn a_group_cannot_contain_itself() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let a = s.create(t, "Group", group("A"), vec![]).await.unwrap();
        let err = members(s, t, &a.id, vec![MemberChange::Add(vec![a.id.clone()])])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidMember(_)), "{err:?}");
        let bb = s
            .create(t, "Group", group("B"), vec![a.id.clone()])
            .await
            .unwrap();
        let c = s
            .create(t, "Group", group("C"), vec![bb.id.clone()])
            .await
            .unwrap();
        // A is in B, B is in C: putting C into A closes a cycle.
        let err = members(s, t, &a.id, vec![MemberChange::Add(vec![c.id.clone()])])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidMember(_)), "{err:?}");
        let got = s.get(t, "Group", &a.id, ALL).await.unwrap().unwrap();
        assert_eq!(got.version, 1);
        assert!(got.members.unwrap().is_empty());
    }
}

#[tokio::test]
async fn user_groups_are_direct_and_indirect() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        let direct = s
            .create(t, "Group", group("Direct"), vec![u.id.clone()])
            .await
            .unwrap();
        let parent = s
            .create(t, "Group", group("Parent"), vec![direct.id.clone()])
            .await
            .unwrap();
        let grand = s
            .create(t, "Group", group("Grand"), vec![parent.id.clone()])
            .await
            .unwrap();
        // Both directly and through Direct.
        let both = s
            .create(
                t,
                "Group",
                group("Both"),
                vec![u.id.clone(), direct.id.clone()],
            )
            .await
            .unwrap();
        let got = s.get(t, "User", &u.id, ALL).await.unwrap().unwrap();
        let gr = |g: &Stored, direct: bool| GroupRef {
            value: g.id.clone(),
            display: g.doc["displayName"].as_str().map(str::to_owned),
            direct,
        };
        assert_eq!(
            got.groups.unwrap(),
            vec![
                gr(&direct, true),
                gr(&parent, false),
                gr(&grand, false),
                gr(&both, true)
            ]
        );
        // A user has no members; a group has no `groups`.
        assert_eq!(got.members, None);
        // A write that asks for them returns them too, and keeps the version when a stale
        // precondition fails.
        let written = s
            .modify(
                t,
                "User",
                &u.id,
                Precondition::None,
                ALL,
                Box::new(move |c| {
                    let mut d = c.doc.clone();
                    d["title"] = serde_json::json!("x");
                    Ok(store::Modification {
                        doc: Some(d.into()),
                        members: vec![],
                    })
                }),
            )
            .await
            .unwrap();
        assert_eq!(written.groups.as_ref().map(Vec::len), Some(4));
        assert_eq!(written.version, 2);
        let stale = s
            .modify(
                t,
                "User",
                &u.id,
                Precondition::Version(1),
                ALL,
                Box::new(move |_| Ok(store::Modification::default())),
            )
            .await
            .unwrap_err();
        assert!(matches!(
            stale,
            StoreError::PreconditionFailed { current: 2 }
        ));
        let g = s.get(t, "Group", &direct.id, ALL).await.unwrap().unwrap();
        assert_eq!(g.groups, None);
        let alone = s.create(t, "User", user("alone"), vec![]).await.unwrap();
        let got = s.get(t, "User", &alone.id, ALL).await.unwrap().unwrap();
        assert_eq!(got.groups, Some(vec![]));
    }
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_its_groups_and_bumps_them() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        let keep = s.create(t, "User", user("keep"), vec![]).await.unwrap();
        let g1 = s
            .create(t, "Group", group("G1"), vec![u.id.clone(), keep.id.clone()])
            .await
            .unwrap();
        let g2 = s
            .create(t, "Group", group("G2"), vec![u.id.clone()])
            .await
            .unwrap();
        let untouched = s
            .create(t, "Group", group("G3"), vec![keep.id.clone()])
            .await
            .unwrap();
        let seq = s.changes(t, 0, 100).await.unwrap().last().unwrap().seq;
        s.delete(t, "User", &u.id, Precondition::None)
            .await
            .unwrap();

        let g1 = s.get(t, "Group", &g1.id, ALL).await.unwrap().unwrap();
        assert_eq!(member_ids(&g1), vec![keep.id.clone()]);
        assert_eq!(g1.version, 2);
        let g2 = s.get(t, "Group", &g2.id, ALL).await.unwrap().unwrap();
        assert!(g2.members.as_ref().unwrap().is_empty());
        assert_eq!(g2.version, 2);
        let g3 = s
            .get(t, "Group", &untouched.id, ALL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(g3.version, 1);

        let mut feed: Vec<_> = s
            .changes(t, seq, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.id, c.op, c.version))
            .collect();
        let last = feed.pop().unwrap();
        assert_eq!(last, (u.id.clone(), ChangeOp::Delete, 1));
        feed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want = vec![
            (g1.id.clone(), ChangeOp::Update, 2),
            (g2.id.clone(), ChangeOp::Update, 2),
        ];
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(feed, want);
    }
}

#[tokio::test]
async fn deleting_a_group_removes_its_memberships_both_ways() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        let mid = s
            .create(t, "Group", group("Mid"), vec![u.id.clone()])
            .await
            .unwrap();
        let top = s
            .create(t, "Group", group("Top"), vec![mid.id.clone()])
            .await
            .unwrap();
        s.delete(t, "Group", &mid.id, Precondition::None)
            .await
            .unwrap();
        let top = s.get(t, "Group", &top.id, ALL).await.unwrap().unwrap();
        assert!(top.members.unwrap().is_empty());
        assert_eq!(top.version, 2);
        let u = s.get(t, "User", &u.id, ALL).await.unwrap().unwrap();
        assert_eq!(u.groups, Some(vec![]));
        assert_eq!(u.version, 1, "a user's version covers its own attributes");
    }
}

#[tokio::test]
async fn member_display_follows_renames() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("old"), vec![]).await.unwrap();
        let g = s
            .create(t, "Group", group("G"), vec![u.id.clone()])
            .await
            .unwrap();
        edit(s, t, "User", &u.id, |d| {
            d["userName"] = serde_json::json!("new")
        })
        .await
        .unwrap();
        let g = s.get(t, "Group", &g.id, ALL).await.unwrap().unwrap();
        assert_eq!(g.members.unwrap()[0].display.as_deref(), Some("new"));
    }
}

#[tokio::test]
async fn filters_on_members_are_evaluated() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let u = s.create(t, "User", user("bjensen"), vec![]).await.unwrap();
        s.create(t, "Group", group("With"), vec![u.id.clone()])
            .await
            .unwrap();
        s.create(t, "Group", group("Without"), vec![])
            .await
            .unwrap();
        let q = query(&format!(r#"members[value eq "{}"]"#, u.id));
        assert_eq!(list_names(s, t, Some("Group"), &q).await, vec!["With"]);
        let q = query(r#"groups.value pr and userName eq "bjensen""#);
        assert_eq!(list_names(s, t, Some("User"), &q).await, vec!["bjensen"]);
        // Ids compare case-insensitively (members.value is not caseExact).
        let q = query(&format!(
            r#"members.value eq "{}" or members eq "nobody""#,
            u.id.to_uppercase()
        ));
        assert_eq!(list_names(s, t, Some("Group"), &q).await, vec!["With"]);
        let q = query(&format!(
            r#"members[type eq "User" and value eq "{}"]"#,
            u.id
        ));
        assert_eq!(list_names(s, t, Some("Group"), &q).await, vec!["With"]);
        let q = query(&format!(r#"not (members[value eq "{}"])"#, u.id));
        assert_eq!(list_names(s, t, Some("Group"), &q).await, vec!["Without"]);
        // The page does not carry members unless the query loads them.
        let page = s
            .list(
                t,
                Some("Group"),
                &query(&format!(r#"members.value eq "{}""#, u.id)),
            )
            .await
            .unwrap();
        assert_eq!(page.resources[0].members, None);
    }
}
