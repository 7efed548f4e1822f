//! What only the PostgreSQL backend has: migrations shared by replicas, its URL settings, and
//! what concurrent writers through separate stores (as separate replicas) see.

use std::sync::Arc;

use store::StoreError;
use store::postgres::PostgresStore;

use super::pg::TestDb;
use super::*;

#[tokio::test]
async fn two_replicas_migrate_one_database_at_once() {
    let db = TestDb::create().await;
    let (a, b) = tokio::join!(
        PostgresStore::open(&db.url, registry()),
        PostgresStore::open(&db.url, registry())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let t = a.ensure_tenant("acme").await.unwrap().0.id;
    let u = a.create(t, "User", user("bjensen"), vec![]).await.unwrap();
    assert!(
        b.get(t, "User", &u.id, Load::default())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let db = TestDb::create().await;
    drop(PostgresStore::open(&db.url, registry()).await.unwrap());
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let err = PostgresStore::open(&db.url, registry()).await.unwrap_err();
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
    assert!(err.to_string().contains("99990101000000"), "{err}");
}

#[tokio::test]
async fn store_open_dispatches_postgres_urls() {
    let db = TestDb::create().await;
    let s = store::open(&db.url, registry()).await.unwrap();
    s.ping().await.unwrap();
    let alt = db.url.replacen("postgres://", "postgresql://", 1);
    store::open(&alt, registry())
        .await
        .unwrap()
        .ping()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_invalid_url_is_a_database_error() {
    let err = PostgresStore::open("postgres://h:notaport/db", registry())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
}

/// Two stores on one database act as two replicas: concurrent writers of one resource, one
/// name and one group behave as with one process.
#[tokio::test]
async fn concurrent_writers_through_two_stores() {
    let db = TestDb::create().await;
    let a: Arc<dyn Store> = Arc::new(PostgresStore::open(&db.url, registry()).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PostgresStore::open(&db.url, registry()).await.unwrap());
    let t = tenant(&*a, "acme").await;

    // Same If-Match through both: exactly one wins.
    let u = a.create(t, "User", user("bjensen"), vec![]).await.unwrap();
    let patch = |s: Arc<dyn Store>, id: String, title: &'static str| async move {
        s.modify(
            t,
            "User",
            &id,
            Precondition::Version(1),
            Load::default(),
            Box::new(move |cur| {
                let mut doc = cur.doc.clone();
                doc["title"] = json!(title);
                Ok(Modification {
                    doc: Some(doc.into()),
                    members: vec![],
                })
            }),
        )
        .await
    };
    let (x, y) = tokio::join!(
        patch(a.clone(), u.id.clone(), "x"),
        patch(b.clone(), u.id.clone(), "y")
    );
    let failed = [&x, &y]
        .iter()
        .filter(|r| matches!(r, Err(StoreError::PreconditionFailed { current: 2 })))
        .count();
    assert_eq!(
        (x.is_ok() as u8 + y.is_ok() as u8, failed),
        (1, 1),
        "{x:?} {y:?}"
    );

    // Same userName through both: exactly one is created.
    let (x, y) = tokio::join!(
        a.create(t, "User", user("Same"), vec![]),
        b.create(t, "User", user("same"), vec![])
    );
    assert_eq!(x.is_ok() as u8 + y.is_ok() as u8, 1, "{x:?} {y:?}");
    assert!(matches!(
        x.as_ref().err().or(y.as_ref().err()),
        Some(StoreError::Uniqueness(_))
    ));

    // Membership adds through both lose nothing.
    let g = a.create(t, "Group", group("g"), vec![]).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            a.create(t, "User", user(&format!("m{i}")), vec![])
                .await
                .unwrap()
                .id,
        );
    }
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (g, id) = (g.id.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            members(&*s, t, &g, vec![MemberChange::Add(vec![id])]).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let got = b
        .get(
            t,
            "Group",
            &g.id,
            Load {
                members: true,
                groups: false,
                raw: false,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.members.unwrap().len(), 20);
    assert_eq!(got.version, 21);

    // Two groups added into each other at once: one of them is refused, no cycle stored.
    let g1 = a.create(t, "Group", group("g1"), vec![]).await.unwrap().id;
    let g2 = a.create(t, "Group", group("g2"), vec![]).await.unwrap().id;
    let (x, y) = tokio::join!(
        members(&*a, t, &g1, vec![MemberChange::Add(vec![g2.clone()])]),
        members(&*b, t, &g2, vec![MemberChange::Add(vec![g1.clone()])])
    );
    assert_eq!(x.is_ok() as u8 + y.is_ok() as u8, 1, "{x:?} {y:?}");

    // The feed, read through either store, is gap-free and in commit order.
    let feed = b.changes(t, 0, 10_000).await.unwrap();
    let seqs: Vec<i64> = feed.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn writes_through_one_store_wake_the_other() {
    let db = TestDb::create().await;
    let a = PostgresStore::open(&db.url, registry()).await.unwrap();
    let b = PostgresStore::open(&db.url, registry()).await.unwrap();
    let mut rx = b.subscribe_changes();
    rx.borrow_and_update();
    let t = a.ensure_tenant("acme").await.unwrap().0.id;
    a.create(t, "User", user("bjensen"), vec![]).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.changed())
        .await
        .expect("no wake-up from the other store")
        .unwrap();
    assert_eq!(b.changes(t, 0, 10).await.unwrap().len(), 1);
}

/// The lease query the migration documents for sync jobs: two replicas never take one job.
#[tokio::test]
async fn job_leases_skip_locked_rows() {
    let db = TestDb::create().await;
    let s = PostgresStore::open(&db.url, registry()).await.unwrap();
    let t = s.ensure_tenant("acme").await.unwrap().0.id;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    for name in ["a", "b"] {
        sqlx::query("INSERT INTO jobs (tenant, name, config) VALUES ($1, $2, '{}')")
            .bind(t.0)
            .bind(name)
            .execute(&pool)
            .await
            .unwrap();
    }
    let take = "SELECT id FROM jobs WHERE lease_until IS NULL OR lease_until < $1 \
                ORDER BY lease_until NULLS FIRST, id LIMIT 1 FOR UPDATE SKIP LOCKED";
    let mut r1 = pool.begin().await.unwrap();
    let mut r2 = pool.begin().await.unwrap();
    let j1: i64 = sqlx::query_scalar(take)
        .bind(0i64)
        .fetch_one(&mut *r1)
        .await
        .unwrap();
    let j2: i64 = sqlx::query_scalar(take)
        .bind(0i64)
        .fetch_one(&mut *r2)
        .await
        .unwrap();
    assert_ne!(j1, j2);
    let none: Option<i64> = sqlx::query_scalar(take)
        .bind(0i64)
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert_eq!(none, None);
}
