//! What only the SQLite backend has: its file, its migrations.

use store::StoreError;
use store::sqlite::SqliteStore;

use super::*;

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let path = path.to_str().unwrap();
    let id = {
        let s = SqliteStore::open(path, registry()).await.unwrap();
        let t = s.ensure_tenant("acme").await.unwrap().0.id;
        s.create(t, "User", user("bjensen"), vec![])
            .await
            .unwrap()
            .id
    };
    let s = SqliteStore::open(path, registry()).await.unwrap();
    let t = s.tenant("acme").await.unwrap().unwrap().id;
    let got = s
        .get(t, "User", &id, Load::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.doc["userName"], "bjensen");
    // Counts kept across restarts.
    assert_eq!(s.list(t, Some("User"), &query("")).await.unwrap().total, 1);
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let path = path.to_str().unwrap();
    drop(SqliteStore::open(path, registry()).await.unwrap());
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(path, registry()).await.unwrap_err();
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    // Refused before anything was written.
    let conn = rusqlite::Connection::open(path).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}

/// Databases written while the backend ran on sqlx recorded their migrations in sqlx's table.
#[tokio::test]
async fn a_database_migrated_by_sqlx_opens_without_migrating_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let path = path.to_str().unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(include_str!("../../migrations/sqlite/0001_directory.sql"))
        .unwrap();
    conn.execute_batch(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (1, 'directory', 1, x'00', 0); \
         INSERT INTO tenants (name, created) VALUES ('acme', 0);",
    )
    .unwrap();
    drop(conn);
    let s = SqliteStore::open(path, registry()).await.unwrap();
    assert!(s.tenant("acme").await.unwrap().is_some());
}

#[tokio::test]
async fn store_open_accepts_sqlite_urls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.db");
    let s = store::open(&format!("sqlite://{}", path.display()), registry())
        .await
        .unwrap();
    s.ping().await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn paths_are_file_names_not_urls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("my dir?#1.db");
    let s = SqliteStore::open(path.to_str().unwrap(), registry())
        .await
        .unwrap();
    s.ping().await.unwrap();
    assert!(path.exists());
}

/// Concurrent writes share transactions (group commit): every write acknowledged is committed
/// (a second store on the file sees it), and a write that fails inside a shared transaction
/// (a taken userName) leaves the others of its batch alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_committed_when_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let path = path.to_str().unwrap().to_owned();
    let s = Arc::new(SqliteStore::open(&path, registry()).await.unwrap());
    let t = s.ensure_tenant("acme").await.unwrap().0.id;
    // Another store on the file reads through connections of its own: what it sees is committed.
    let other = Arc::new(SqliteStore::open(&path, registry()).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = Arc::clone(&s);
        let other = Arc::clone(&other);
        // Every tenth name is taken twice.
        let name = if i % 10 == 0 {
            format!("dup{i}")
        } else {
            format!("u{i}")
        };
        let twice = i % 10 == 0;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..(1 + usize::from(twice)) {
                let r = s.create(t, "User", user(&name), vec![]).await;
                if let Ok(stored) = &r {
                    let seen = other.get(t, "User", &stored.id, Load::default()).await;
                    assert!(
                        seen.unwrap().is_some(),
                        "{} was acknowledged before it was committed",
                        stored.id
                    );
                }
                ids.push(r);
            }
            ids
        }));
    }
    let mut created = Vec::new();
    let mut taken = 0;
    for task in tasks {
        for r in task.await.unwrap() {
            match r {
                Ok(stored) => created.push(stored.id),
                Err(StoreError::Uniqueness(_)) => taken += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert_eq!((created.len(), taken), (200, 20));
    assert_eq!(other.changes(t, 0, 1000).await.unwrap().len(), 200);
}

/// Renames share transactions as creates do, without a savepoint each: a rename onto a taken
/// name fails alone (SQLite undoes its one statement, trigger included), and every rename
/// acknowledged is committed, in the feed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renames_fail_alone_when_a_name_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let path = path.to_str().unwrap().to_owned();
    let s = Arc::new(SqliteStore::open(&path, registry()).await.unwrap());
    let t = s.ensure_tenant("acme").await.unwrap().0.id;
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(
            s.create(t, "User", user(&format!("u{i}")), vec![])
                .await
                .unwrap()
                .id,
        );
    }
    let other = Arc::new(SqliteStore::open(&path, registry()).await.unwrap());
    let mut tasks = Vec::new();
    // Every tenth user keeps its name, and the user after it tries to take that name.
    for (i, id) in ids.iter().cloned().enumerate().filter(|(i, _)| i % 10 != 0) {
        let (s, other) = (Arc::clone(&s), Arc::clone(&other));
        let name = if i % 10 == 1 {
            format!("u{}", i - 1)
        } else {
            format!("renamed{i}")
        };
        tasks.push(tokio::spawn(async move {
            let r = edit(&*s, t, "User", &id, move |d| d["userName"] = json!(name)).await;
            if r.is_ok() {
                let seen = other.get(t, "User", &id, Load::default()).await.unwrap();
                assert_eq!(
                    seen.unwrap().version,
                    2,
                    "acknowledged before it was committed"
                );
            }
            (id, r.map(|_| ()))
        }));
    }
    let mut refused = 0;
    for task in tasks {
        let (id, r) = task.await.unwrap();
        let got = s
            .get(t, "User", &id, Load::default())
            .await
            .unwrap()
            .unwrap();
        match r {
            Ok(()) => assert!(got.doc["userName"].as_str().unwrap().starts_with("renamed")),
            Err(StoreError::Uniqueness(_)) => {
                refused += 1;
                assert_eq!(got.version, 1);
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(refused, 10);
    // 100 creates, 80 renames.
    assert_eq!(other.changes(t, 0, 1000).await.unwrap().len(), 180);
}

/// A write that panics on the writer thread fails alone: its caller gets an error, nothing of
/// it is kept, and the thread goes on serving writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_fails_and_the_writer_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let s = SqliteStore::open(path.to_str().unwrap(), registry())
        .await
        .unwrap();
    let t = s.ensure_tenant("acme").await.unwrap().0.id;
    let u = s.create(t, "User", user("before"), vec![]).await.unwrap();
    let err = s
        .modify(
            t,
            "User",
            &u.id,
            Precondition::None,
            Load::default(),
            Box::new(|_| panic!("a bug in a modification")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    let after = s.create(t, "User", user("after"), vec![]).await.unwrap();
    let got = s
        .get(t, "User", &u.id, Load::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.version, 1);
    assert!(
        s.get(t, "User", &after.id, Load::default())
            .await
            .unwrap()
            .is_some()
    );
}

/// A database at schema version 1 (feed sequence with AUTOINCREMENT) keeps its feed, numbers
/// included, through the rebuild of version 2, and the feed goes on from the last number.
#[tokio::test]
async fn the_feed_keeps_its_numbers_through_the_version_2_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let path = path.to_str().unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(include_str!("../../migrations/sqlite/0001_directory.sql"))
        .unwrap();
    conn.execute_batch(
        r#"INSERT INTO tenants (name, created) VALUES ('acme', 0);
           INSERT INTO resources (tenant, kind, id, version, name_lc, created, last_modified, doc)
               VALUES (1, 'User', 'u-1', 1, 'a', 0, 0,
                       '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}');
           UPDATE resources SET version = 2, last_modified = 1 WHERE id = 'u-1';
           PRAGMA user_version = 1;"#,
    )
    .unwrap();
    drop(conn);

    let s = SqliteStore::open(path, registry()).await.unwrap();
    let t = s.tenant("acme").await.unwrap().unwrap().id;
    let seqs = |changes: Vec<store::Change>| {
        changes
            .into_iter()
            .map(|c| (c.seq, c.version))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(s.changes(t, 0, 10).await.unwrap()),
        vec![(1, 1), (2, 2)]
    );
    s.create(t, "User", user("b"), vec![]).await.unwrap();
    assert_eq!(
        seqs(s.changes(t, 2, 10).await.unwrap()),
        vec![(3, 1)],
        "the next number follows the last"
    );
    // The count the insert trigger keeps survived the rebuild of the triggers.
    assert_eq!(s.list(t, Some("User"), &query("")).await.unwrap().total, 2);
    drop(s);
    let conn = rusqlite::Connection::open(path).unwrap();
    let (version, table): (i64, String) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), sql FROM sqlite_master \
             WHERE name = 'changes'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(version, 3, "migrated to the latest version");
    assert!(!table.contains("AUTOINCREMENT"), "{table}");
}

/// The store runs without SQLite's foreign-key enforcement (see migration 0003): deleting users
/// and groups must still leave no address or membership pointing at a deleted row, and the
/// counts must follow. `PRAGMA foreign_key_check` reads the schema's declarations whether
/// enforcement is on or not.
#[tokio::test]
async fn deletes_leave_no_orphans_without_foreign_key_enforcement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fk.db");
    let path = path.to_str().unwrap();
    let s = SqliteStore::open(path, registry()).await.unwrap();
    let t = s.ensure_tenant("acme").await.unwrap().0.id;
    let mut with_mail = user("mailed");
    with_mail["emails"] = json!([{"value": "a@example.com"}, {"value": "b@example.com"}]);
    let mailed = s.create(t, "User", with_mail, vec![]).await.unwrap();
    let kept = s.create(t, "User", user("kept"), vec![]).await.unwrap();
    let inner = s
        .create(t, "Group", group("Inner"), vec![mailed.id.clone()])
        .await
        .unwrap();
    let outer = s
        .create(
            t,
            "Group",
            group("Outer"),
            vec![inner.id.clone(), mailed.id.clone(), kept.id.clone()],
        )
        .await
        .unwrap();

    s.delete(t, "User", &mailed.id, Precondition::None)
        .await
        .unwrap();
    s.delete(t, "Group", &inner.id, Precondition::None)
        .await
        .unwrap();
    let page = s
        .list(
            t,
            Some("User"),
            &query(r#"emails.value eq "a@example.com""#),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 0, "the deleted user's addresses went with it");
    assert_eq!(s.list(t, Some("User"), &query("")).await.unwrap().total, 1);
    assert_eq!(s.list(t, Some("Group"), &query("")).await.unwrap().total, 1);
    let members = s
        .get(
            t,
            "Group",
            &outer.id,
            Load {
                members: true,
                ..Load::default()
            },
        )
        .await
        .unwrap()
        .unwrap()
        .members
        .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].value, kept.id);
    drop(s);

    let conn = rusqlite::Connection::open(path).unwrap();
    let orphans: Vec<(String, i64)> = conn
        .prepare("SELECT \"table\", rowid FROM pragma_foreign_key_check")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(-1)))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(orphans, vec![]);
    let rows: (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM emails), (SELECT count(*) FROM members)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(rows, (0, 1));
}
