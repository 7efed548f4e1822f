//! What only the SQLite backend has: its file, its migrations.

use std::str::FromStr;

use sqlx::ConnectOptions;
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
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(path, registry()).await.unwrap_err();
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
    assert!(err.to_string().contains("99990101000000"), "{err}");
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
