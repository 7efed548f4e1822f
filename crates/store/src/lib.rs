//! The directory's storage: one [`Store`] trait and its backends.
//!
//! The server and the provisioning engine only ever see the trait; which database is behind it
//! is decided once, by the URL given to [`open`]. Every backend keeps, per resource, the
//! canonical JSON document (without `meta`, `members` and `groups`) plus indexed columns for
//! what filters and uniqueness need, a membership table `(group, member)` so one membership change
//! costs one row whatever the group's size, and a change feed appended in the same transaction
//! as the write it records.
//!
//! Filters are pushed down to SQL where the indexed columns answer them (see [`plan`]) and the
//! rest is evaluated in memory with the protocol crate's evaluator on the narrowed candidates,
//! so both paths give the same answer.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

mod doc;
mod list;
pub mod plan;
pub mod postgres;
pub mod sqlite;

pub use scim::filter::Filter;

/// Where "now" comes from, so tests can pin timestamps.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// A tenant's numeric key. Every resource, token and change belongs to exactly one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub i64);

/// A tenant as listed by administration commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
}

/// A token's public description; the secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Short public identifier used to list and revoke a token.
    pub id: String,
    pub tenant: String,
    pub label: Option<String>,
    pub created: OffsetDateTime,
    pub revoked: bool,
}

/// The tenant a presented token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    pub token_id: String,
    /// The stored SHA-256, so the caller can compare it in constant time.
    pub hash: [u8; 32],
}

/// One member of a group as stored in the membership table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's resource id.
    pub value: String,
    /// `User` or `Group`.
    pub kind: String,
    /// The member's `userName` / `displayName` at read time.
    pub display: Option<String>,
}

/// One group a user belongs to, directly or through nested groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub value: String,
    pub display: Option<String>,
    /// `direct` or `indirect` (RFC 7643 §4.1.2 `groups.type`).
    pub direct: bool,
}

/// A resource as stored, with what the server needs to render `meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The resource type id (`User`, `Group`).
    pub kind: String,
    pub id: String,
    /// Bumped by every write that changes something; rendered as `W/"<version>"`.
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    /// The canonical document without `id`, `meta`, `members` and `groups`.
    pub doc: Value,
    /// Group members, when asked for and the type has them.
    pub members: Option<Vec<Member>>,
    /// Groups of a user (direct and indirect), when asked for.
    pub groups: Option<Vec<GroupRef>>,
    /// The document's JSON text as stored, when [`Load::raw`] asked for it and the backend
    /// could give it; `doc` is then `Value::Null`, never parsed. A write also returns the text
    /// it wrote, beside `doc`.
    pub raw: Option<String>,
}

/// What to load beside the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    pub members: bool,
    pub groups: bool,
    /// The caller only passes the document on, as JSON: a backend may return its stored text in
    /// [`Stored::raw`] instead of parsing it (a GET spends most of its time parsing and
    /// re-serialising otherwise). A list gives raw documents only when SQL alone answers it;
    /// documents the in-memory evaluator reads are parsed.
    ///
    /// For [`Store::modify`]: the modification may be handed the current document as text
    /// ([`Stored::raw`], `doc` null), to answer with [`NewDoc::Rewritten`]; a backend that reads
    /// documents some other way hands it the parsed document.
    pub raw: bool,
}

/// A precondition from `If-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No precondition.
    None,
    /// The stored version must be exactly this.
    Version(i64),
}

/// A change to a group's membership, applied as row deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Add these member ids (existing members are left alone).
    Add(Vec<String>),
    /// Remove these member ids (absent ones are ignored).
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
}

/// What a write does to one resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Modification {
    /// The new canonical document, if it changed (without id, meta, members, groups).
    pub doc: Option<NewDoc>,
    /// Membership deltas, in order.
    pub members: Vec<MemberChange>,
}

/// A resource's new document.
#[derive(Debug, Clone, PartialEq)]
pub enum NewDoc {
    /// The whole document.
    Whole(Value),
    /// The stored text with some top-level members rewritten
    /// ([`scim::patch::apply_to_text`]): the indexed columns are compared on the rewritten
    /// members alone, and the text is stored as it is. Only a modification handed the current
    /// document as text ([`Load::raw`]) can make one.
    Rewritten(scim::patch::Rewritten),
}

impl NewDoc {
    /// The whole document, parsed from the text when it was made as text.
    pub fn into_whole(self) -> std::result::Result<Value, serde_json::Error> {
        match self {
            NewDoc::Whole(doc) => Ok(doc),
            NewDoc::Rewritten(r) => serde_json::from_str(&r.text),
        }
    }
}

impl From<Value> for NewDoc {
    fn from(doc: Value) -> NewDoc {
        NewDoc::Whole(doc)
    }
}

/// The computation of a [`Modification`] from the current state, run inside the write
/// transaction so that read-modify-write is atomic without retries. It owns what it needs: the
/// SQLite backend runs it on its writer thread, which may outlive a cancelled request.
pub type Modify = Box<dyn Fn(&Stored) -> Result<Modification, StoreError> + Send + Sync>;

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// A list query, already parsed and checked against the schema.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: Option<Filter>,
    pub sort_by: Option<scim::AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based index of the first result (RFC 7644 §3.4.2.4).
    pub start_index: u64,
    /// Page size; 0 returns only the total.
    pub count: u64,
    /// RFC 9865 cursor; when set, `start_index` is ignored.
    pub cursor: Option<String>,
    pub load: Load,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub total: u64,
    pub resources: Vec<Stored>,
    /// RFC 9865 cursor of the next page, when the query used cursors and more remain.
    pub next_cursor: Option<String>,
}

/// One change-feed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub tenant: TenantId,
    pub kind: String,
    pub id: String,
    pub op: ChangeOp,
    pub version: i64,
}

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

/// Storage failures, each of which the server maps to one response.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such resource in this tenant.
    #[error("{kind} {id} not found")]
    NotFound { kind: String, id: String },
    /// A unique value (userName, group displayName) is taken.
    #[error("{0}")]
    Uniqueness(String),
    /// `If-Match` named another version.
    #[error("version mismatch: the resource is at version {current}")]
    PreconditionFailed { current: i64 },
    /// A member id that does not exist in this tenant, or a group made to contain itself.
    #[error("{0}")]
    InvalidMember(String),
    /// The protocol layer rejected the change computed inside a write.
    #[error(transparent)]
    Scim(#[from] scim::Error),
    /// A cursor that this store did not issue or that no longer applies.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(String),
    /// The database schema is newer than this build knows.
    #[error("{0}")]
    Migration(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The directory's storage. One implementation per database; callers never ask which.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // --- tenants and tokens -----------------------------------------------------------------

    /// The tenant with this name, creating it if needed; the flag says whether it was created.
    async fn ensure_tenant(&self, name: &str) -> Result<(Tenant, bool)>;
    async fn tenant(&self, name: &str) -> Result<Option<Tenant>>;
    async fn tenants(&self) -> Result<Vec<Tenant>>;
    /// Stores a token by the SHA-256 of its secret.
    async fn create_token(
        &self,
        tenant: TenantId,
        hash: [u8; 32],
        label: Option<&str>,
    ) -> Result<TokenInfo>;
    async fn tokens(&self, tenant: Option<TenantId>) -> Result<Vec<TokenInfo>>;
    /// Revokes a token by its public id; false when there is no such token.
    async fn revoke_token(&self, id: &str) -> Result<bool>;
    /// The principal of a live (not revoked) token, by the SHA-256 of its secret.
    async fn authenticate(&self, hash: [u8; 32]) -> Result<Option<Principal>>;

    // --- resources --------------------------------------------------------------------------

    /// Creates a resource with a new id. `doc` is canonical and validated; `members` are the
    /// initial member ids for a group.
    async fn create(
        &self,
        tenant: TenantId,
        kind: &str,
        doc: Value,
        members: Vec<String>,
    ) -> Result<Stored>;
    /// Creates several resources of one type as independent creates (each succeeds or fails on
    /// its own, in order), stopping once `max_errors` have failed; later items are then absent
    /// from the result. An `Err` of the whole call is a database failure (the SQLite backend then
    /// created none of them). Backends make this cheaper than a loop, with one transaction for
    /// the batch; the default is the loop, so a backend without a faster path is still correct.
    async fn create_many(
        &self,
        tenant: TenantId,
        kind: &str,
        items: Vec<(Value, Vec<String>)>,
        max_errors: Option<usize>,
    ) -> Result<Vec<Result<Stored>>> {
        let mut out = Vec::with_capacity(items.len());
        let mut errors = 0;
        for (doc, members) in items {
            if max_errors.is_some_and(|max| errors >= max) {
                break;
            }
            match self.create(tenant, kind, doc, members).await {
                Err(e @ (StoreError::Database(_) | StoreError::Migration(_))) => return Err(e),
                Err(e) => {
                    errors += 1;
                    out.push(Err(e));
                }
                Ok(s) => out.push(Ok(s)),
            }
        }
        Ok(out)
    }
    async fn get(
        &self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        load: Load,
    ) -> Result<Option<Stored>>;
    /// Atomic read-modify-write: checks the precondition, runs `modify` on the current state
    /// inside the write transaction, writes what it returns. A modification that changes
    /// nothing writes nothing and keeps the version.
    async fn modify(
        &self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        precondition: Precondition,
        load: Load,
        modify: Modify,
    ) -> Result<Stored>;
    /// Deletes a resource and its memberships (in both directions).
    async fn delete(
        &self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<()>;
    /// Lists resources of one type (or of every type when `kind` is `None`).
    async fn list(&self, tenant: TenantId, kind: Option<&str>, query: &Query) -> Result<Page>;

    // --- change feed and health -------------------------------------------------------------

    /// Changes after `after` (exclusive), in sequence order, at most `limit`.
    async fn changes(&self, tenant: TenantId, after: i64, limit: u32) -> Result<Vec<Change>>;
    /// Wakes consumers of the change feed instead of having them poll: the receiver's value
    /// changes after every committed write that appended to the feed. A consumer then reads
    /// [`Store::changes`] from its watermark. On PostgreSQL, writes by other replicas wake it
    /// too (`LISTEN/NOTIFY`); on SQLite, writes by other processes sharing the file (such as
    /// `scimsync token create`) do not, so a consumer also re-reads at a slow interval.
    fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;
}

/// Connection settings of a database server; the embedded SQLite backend has no use for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Connections per process (each replica holds up to this many).
    pub pool_size: u32,
    /// Longest one statement may run; `None` keeps the server's default.
    pub statement_timeout: Option<std::time::Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        let pg = postgres::PostgresOptions::default();
        Settings {
            pool_size: pg.pool_size,
            statement_timeout: pg.statement_timeout,
        }
    }
}

/// Opens the store a database URL names (`sqlite://PATH`, `sqlite:PATH`, a bare path, or
/// `postgres://…`), creating and migrating it as needed.
pub async fn open(url: &str, registry: Arc<scim::Registry>) -> Result<Arc<dyn Store>> {
    open_with(url, registry, Settings::default()).await
}

/// [`open`] with connection settings.
pub async fn open_with(
    url: &str,
    registry: Arc<scim::Registry>,
    settings: Settings,
) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = postgres::PostgresOptions {
            pool_size: settings.pool_size,
            statement_timeout: settings.statement_timeout,
            ..postgres::PostgresOptions::default()
        };
        return Ok(Arc::new(
            postgres::PostgresStore::open_with(url, registry, options).await?,
        ));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    Ok(Arc::new(sqlite::SqliteStore::open(path, registry).await?))
}
