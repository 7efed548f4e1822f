//! The store conformance suite: every backend must pass every test here, through the `Store`
//! trait only. [`backends`] lists the backends; each test runs its scenario on a fresh database
//! of each.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};
use store::{
    ChangeOp, Filter, Load, MemberChange, Modification, Precondition, Query, SortOrder, Store,
    StoreError, Stored, TenantId,
};
use time::OffsetDateTime;

#[path = "conformance/backends.rs"]
mod backends;
#[path = "conformance/crud.rs"]
mod crud;
#[path = "conformance/filters.rs"]
mod filters;
#[path = "conformance/groups.rs"]
mod groups;
#[path = "conformance/listing.rs"]
mod listing;
#[path = "support/postgres.rs"]
pub mod pg;
#[path = "conformance/postgres.rs"]
mod postgres;
#[path = "conformance/property.rs"]
mod property;
#[path = "conformance/sqlite.rs"]
mod sqlite;
#[path = "conformance/tenancy.rs"]
mod tenancy;

/// A store on a fresh database, with a clock the test controls.
#[derive(Debug)]
pub struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    pub clock: Arc<AtomicI64>,
    _dir: Option<tempfile::TempDir>,
    /// Dropped after the store, so the store's connections are gone first.
    _db: Option<pg::TestDb>,
}

/// 2024-01-01T00:00:00Z in milliseconds: where the test clock starts.
pub const EPOCH_MS: i64 = 1_704_067_200_000;

impl Backend {
    /// Moves the clock forward.
    pub fn tick(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

/// Every backend the suite runs against, each on a new empty database.
pub async fn backends() -> Vec<Backend> {
    vec![backends::sqlite().await, backends::postgres().await]
}

pub fn registry() -> Arc<scim::Registry> {
    Arc::new(scim::Registry::rfc7643())
}

pub fn user(name: &str) -> Value {
    json!({"schemas": [scim::urn::USER], "userName": name})
}

pub fn group(name: &str) -> Value {
    json!({"schemas": [scim::urn::GROUP], "displayName": name})
}

pub fn filter(text: &str) -> Filter {
    Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub fn query(f: &str) -> Query {
    Query {
        filter: (!f.is_empty()).then(|| filter(f)),
        start_index: 1,
        count: 1000,
        ..Query::default()
    }
}

/// The unique name of each resource of a page, in order.
pub fn names(resources: &[Stored]) -> Vec<String> {
    resources
        .iter()
        .map(|s| {
            let key = if s.kind == "User" {
                "userName"
            } else {
                "displayName"
            };
            s.doc[key].as_str().unwrap_or("").to_owned()
        })
        .collect()
}

pub async fn list_names(
    store: &dyn Store,
    t: TenantId,
    kind: Option<&str>,
    q: &Query,
) -> Vec<String> {
    names(&store.list(t, kind, q).await.unwrap().resources)
}

pub async fn tenant(store: &dyn Store, name: &str) -> TenantId {
    store.ensure_tenant(name).await.unwrap().0.id
}

/// Replaces the document with `f(doc)`.
pub async fn edit(
    store: &dyn Store,
    t: TenantId,
    kind: &str,
    id: &str,
    f: impl Fn(&mut Value) + Send + Sync + 'static,
) -> Result<Stored, StoreError> {
    store
        .modify(
            t,
            kind,
            id,
            Precondition::None,
            Load::default(),
            Box::new(move |cur| {
                let mut doc = cur.doc.clone();
                f(&mut doc);
                Ok(Modification {
                    doc: Some(doc.into()),
                    members: vec![],
                })
            }),
        )
        .await
}

pub async fn members(
    store: &dyn Store,
    t: TenantId,
    group: &str,
    changes: Vec<MemberChange>,
) -> Result<Stored, StoreError> {
    store
        .modify(
            t,
            "Group",
            group,
            Precondition::None,
            Load {
                members: true,
                groups: false,
                raw: false,
            },
            Box::new(move |_| {
                Ok(Modification {
                    doc: None,
                    members: changes.clone(),
                })
            }),
        )
        .await
}

pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn change_ops(changes: &[store::Change]) -> Vec<(String, ChangeOp, i64)> {
    changes
        .iter()
        .map(|c| (c.kind.clone(), c.op, c.version))
        .collect()
}

pub fn asc() -> SortOrder {
    SortOrder::Ascending
}
