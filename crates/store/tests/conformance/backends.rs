//! How each backend is opened for a test.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use store::postgres::{PostgresOptions, PostgresStore};
use store::sqlite::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;

use super::pg::TestDb;
use super::{Backend, EPOCH_MS, registry};

/// A clock that reads the shared counter (milliseconds) and then advances it by one, so that
/// successive writes get distinct, increasing timestamps.
pub fn clock(counter: Arc<AtomicI64>) -> store::sqlite::Clock {
    Arc::new(move || {
        let ms = counter.fetch_add(1, Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let counter = Arc::new(AtomicI64::new(EPOCH_MS));
    let store = SqliteStore::open_with(
        path.to_str().unwrap(),
        registry(),
        SqliteOptions {
            clock: clock(counter.clone()),
            ..SqliteOptions::default()
        },
    )
    .await
    .unwrap();
    Backend {
        name: "sqlite",
        store: Arc::new(store),
        clock: counter,
        _dir: Some(dir),
        _db: None,
    }
}

/// A PostgreSQL store on a database of its own (see `support/postgres.rs`).
pub async fn postgres() -> Backend {
    let db = TestDb::create().await;
    let counter = Arc::new(AtomicI64::new(EPOCH_MS));
    let store = PostgresStore::open_with(
        &db.url,
        registry(),
        PostgresOptions {
            pool_size: 4,
            clock: clock(counter.clone()),
            ..PostgresOptions::default()
        },
    )
    .await
    .unwrap();
    Backend {
        name: "postgres",
        store: Arc::new(store),
        clock: counter,
        _dir: None,
        _db: Some(db),
    }
}
