//! The SQLite backend: the embedded default.
//!
//! One writer connection serialises every write (`BEGIN IMMEDIATE`, so a write transaction takes
//! the database lock up front and a concurrent writer in another process, such as
//! `scimsync token create`, waits on `busy_timeout` instead of failing half-way); a pool of
//! read-only connections serves reads concurrently, which WAL allows without blocking the writer.
//!
//! Durability: WAL with `synchronous=NORMAL` by default. A commit returns once its frames are
//! written to the WAL file with `write(2)`, i.e. handed to the kernel; a killed process (SIGKILL,
//! panic, OOM) loses nothing that was acknowledged, because the kernel still writes the page
//! cache out. Only an OS crash or power loss can roll back the last transactions, never corrupt
//! the database. `synchronous=FULL` (an fsync per commit) closes that window too, at the price of
//! one disk flush per write; [`SqliteOptions::synchronous_full`] turns it on.
//!
//! Listing, in the order the code decides it:
//!
//! * The filter is planned ([`crate::plan`]). An exact plan is answered by SQL alone: a filtered
//!   first page that is not full is its own total (one statement: the usual `userName eq`
//!   lookup); otherwise a read transaction runs `COUNT(*)` (or reads the per-type counts kept by
//!   triggers when there is no filter) and fetches only the page.
//! * An inexact plan streams the SQL-narrowed candidates in the requested order, in chunks, and
//!   the evaluator decides each; every candidate is read (the total needs them) but only the
//!   page is kept, so memory stays bounded however many candidates there are.
//! * Sorting by an attribute no column holds sorts every match in memory with the protocol
//!   crate's sort keys, bounded by [`MAX_IN_MEMORY_SORT`] (beyond it: `tooMany`).
//! * Orders are total: the sort key, then `pk` in the same direction; descending is the exact
//!   reverse of ascending, so missing values come last ascending and first descending. A
//!   nullable column is read as two index ranges (values, then missing), so no page sorts the
//!   whole set.
//! * Cursors (RFC 9865) are base64url JSON: the position of the page's last row (segment, key,
//!   `pk`) plus a fingerprint of the filter, order and types. The next page is a keyset range
//!   after that position, so rows inserted or deleted meanwhile never shift it: nothing present
//!   throughout is skipped or repeated. In-memory sorts use an offset instead (documented as the
//!   one exception). Cursors do not expire; one for another query is `InvalidCursor`.
//!
//! Writes: deleting a resource removes its memberships in both directions, and each group that
//! lost it as a member gets a new version and a change-feed entry, since its `members` changed.
//! A user's own version does not move when its groups change: `groups` is derived from the
//! membership table, and bumping every member of a group (transitively) on each membership
//! change would make one membership change cost the group's size.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::plan::{self, Bind, Col, Sql};
use crate::{
    Change, ChangeOp, GroupRef, Load, Member, MemberChange, Modify, Page, Precondition, Principal,
    Query, Result, SortOrder, Store, StoreError, Stored, Tenant, TenantId, TokenInfo,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Where "now" comes from, so tests can pin timestamps.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Most matches a list sorts in memory (by an attribute no column holds). Only their sort keys
/// are held (tens of bytes each), but every candidate's document is read and parsed; beyond this
/// the request fails with `tooMany` rather than letting one query occupy the server.
pub const MAX_IN_MEMORY_SORT: usize = 200_000;

/// Rows fetched per round trip when candidates are finished in memory.
const SCAN_CHUNK: i64 = 256;

/// Tuning of the SQLite backend.
#[derive(Clone)]
pub struct SqliteOptions {
    /// `synchronous=FULL`: survive power loss too, at one fsync per write (see the module docs).
    pub synchronous_full: bool,
    /// Read-only connections in the reader pool.
    pub readers: u32,
    pub clock: Clock,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: false,
            readers: 4,
            clock: Arc::new(OffsetDateTime::now_utc),
        }
    }
}

impl fmt::Debug for SqliteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteOptions")
            .field("synchronous_full", &self.synchronous_full)
            .field("readers", &self.readers)
            .finish_non_exhaustive()
    }
}

/// The directory stored in one SQLite file.
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    registry: Arc<scim::Registry>,
    clock: Clock,
    /// Bumped after each commit that appended to the change feed.
    feed: tokio::sync::watch::Sender<u64>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) and migrates the database at `path`.
    pub async fn open(path: &str, registry: Arc<scim::Registry>) -> Result<SqliteStore> {
        SqliteStore::open_with(path, registry, SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with explicit durability, reader count and clock.
    pub async fn open_with(
        path: &str,
        registry: Arc<scim::Registry>,
        options: SqliteOptions,
    ) -> Result<SqliteStore> {
        // A file name, not a URL: a path with `?` or `#` in it is still just a path.
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .synchronous(if options.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16384")
            .disable_statement_logging();
        // The connections live as long as the store: a read-only connection cannot recreate the
        // WAL's shared-memory file if every connection had closed and removed it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await?;
        MIGRATOR.run(&writer).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Migration(format!(
                "the database has schema migration {v}, which this build does not know: it was \
                 written by a newer scimsync; run that version or newer"
            )),
            e => StoreError::Migration(format!("migrating the database failed: {e}")),
        })?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(base.read_only(true))
            .await?;
        Ok(SqliteStore {
            writer,
            readers,
            registry,
            clock: options.clock,
            feed: tokio::sync::watch::Sender::new(0),
        })
    }

    fn changed(&self) {
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn now_ms(&self) -> i64 {
        let ns = (self.clock)().unix_timestamp_nanos();
        i64::try_from(ns.div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    /// The canonical id of a resource type (`user` → `User`).
    fn kind(&self, kind: &str) -> Option<String> {
        match self.registry.resource_type(kind) {
            Some(rt) => Some(rt.id.clone()),
            None => ["User", "Group"]
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(kind))
                .map(str::to_owned),
        }
    }

    fn known_kind(&self, kind: &str) -> Result<String> {
        self.kind(kind).ok_or_else(|| {
            StoreError::Scim(scim::Error::InvalidValue(format!(
                "unknown resource type '{kind}'"
            )))
        })
    }

    fn all_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .registry
            .resource_types()
            .iter()
            .map(|rt| rt.id.clone())
            .collect();
        if kinds.is_empty() {
            kinds = vec!["Group".into(), "User".into()];
        }
        kinds.sort();
        kinds
    }

    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Whether `resource` (with its id and meta) satisfies `filter`; a type the registry does
    /// not know matches nothing, as an unknown attribute does.
    fn matches(&self, filter: &crate::Filter, stored: &Stored) -> bool {
        match self.registry.resource_type(&stored.kind) {
            Some(rt) => filter.matches(&resource_json(stored), &self.registry, rt),
            None => false,
        }
    }
}

// --- rows and documents ---------------------------------------------------------------------

const COLS: &str = "r.pk, r.kind, r.id, r.version, r.created, r.last_modified, r.doc";

/// A resource row as read, before its document is parsed.
struct RowData {
    pk: i64,
    kind: String,
    id: String,
    version: i64,
    created: i64,
    last_modified: i64,
    doc: String,
}

impl RowData {
    fn read(row: &SqliteRow) -> Result<RowData> {
        Ok(RowData {
            pk: row.try_get(0)?,
            kind: row.try_get(1)?,
            id: row.try_get(2)?,
            version: row.try_get(3)?,
            created: row.try_get(4)?,
            last_modified: row.try_get(5)?,
            doc: row.try_get(6)?,
        })
    }

    fn into_stored(self) -> Result<(i64, Stored)> {
        let doc = serde_json::from_str(&self.doc).map_err(|e| {
            StoreError::Database(format!("stored document of {} is not JSON: {e}", self.id))
        })?;
        Ok((
            self.pk,
            Stored {
                kind: self.kind,
                id: self.id,
                version: self.version,
                created: from_ms(self.created)?,
                last_modified: from_ms(self.last_modified)?,
                doc,
                members: None,
                groups: None,
            },
        ))
    }
}

fn from_ms(ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Database(format!("stored time {ms} is out of range: {e}")))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The resource as the filter evaluator sees it: the document plus `id`, `meta` and, when
/// loaded, `members`/`groups`.
fn resource_json(s: &Stored) -> Value {
    let mut obj = match &s.doc {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    obj.insert("id".into(), Value::String(s.id.clone()));
    obj.insert(
        "meta".into(),
        json!({
            "resourceType": s.kind,
            "created": rfc3339(s.created),
            "lastModified": rfc3339(s.last_modified),
            "version": format!("W/\"{}\"", s.version),
        }),
    );
    if let Some(members) = &s.members {
        let list = members
            .iter()
            .map(|m| json!({"value": m.value, "type": m.kind, "display": m.display}))
            .collect();
        obj.insert("members".into(), Value::Array(list));
    }
    if let Some(groups) = &s.groups {
        let list = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.value,
                    "display": g.display,
                    "type": if g.direct { "direct" } else { "indirect" },
                })
            })
            .collect();
        obj.insert("groups".into(), Value::Array(list));
    }
    Value::Object(obj)
}

/// The indexed columns of a document.
#[derive(Debug, Default, PartialEq)]
struct Indexed {
    external_id: Option<String>,
    /// The unique name as written (`userName` / group `displayName`).
    name: Option<String>,
    display_lc: Option<String>,
    active: Option<bool>,
    emails: BTreeSet<String>,
}

impl Indexed {
    fn of(kind: &str, doc: &Value) -> Indexed {
        let Some(obj) = doc.as_object() else {
            return Indexed::default();
        };
        let text = |key: &str| {
            scim::path::get_ci(obj, key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (name, display_lc) = match kind {
            "User" => (
                text("userName"),
                text("displayName").map(|d| plan::fold(&d)),
            ),
            "Group" => (text("displayName"), None),
            _ => (None, None),
        };
        let active = match scim::path::get_ci(obj, "active") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        let mut emails = BTreeSet::new();
        let mut add = |v: &Value| {
            if let Some(s) = v
                .as_object()
                .and_then(|o| scim::path::get_ci(o, "value"))
                .and_then(Value::as_str)
            {
                emails.insert(plan::fold(s));
            }
        };
        match scim::path::get_ci(obj, "emails") {
            Some(Value::Array(items)) => items.iter().for_each(&mut add),
            Some(v @ Value::Object(_)) => add(v),
            _ => {}
        }
        Indexed {
            external_id: text("externalId"),
            name,
            display_lc,
            active,
            emails,
        }
    }

    fn name_lc(&self) -> Option<String> {
        self.name.as_deref().map(plan::fold)
    }
}

/// The attribute whose uniqueness the `name_lc` index enforces for a type.
fn unique_attr(kind: &str) -> &'static str {
    if kind == "User" {
        "userName"
    } else {
        "displayName"
    }
}

/// Maps a unique-index violation on the name to the SCIM uniqueness error.
fn write_error(e: sqlx::Error, kind: &str, ix: &Indexed) -> StoreError {
    if let Some(db) = e.as_database_error()
        && db.is_unique_violation()
        && db.message().contains("name_lc")
    {
        return StoreError::Uniqueness(format!(
            "{} '{}' is already taken",
            unique_attr(kind),
            ix.name.as_deref().unwrap_or_default()
        ));
    }
    e.into()
}

// --- shared queries -------------------------------------------------------------------------

async fn fetch_row(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    kind: &str,
    id: &str,
) -> Result<Option<RowData>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM resources r WHERE r.tenant = ? AND r.kind = ? AND r.id = ?"
    ))
    .bind(tenant.0)
    .bind(kind)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(RowData::read).transpose()
}

async fn load_members(conn: &mut SqliteConnection, group: i64) -> Result<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT r.id, r.kind, r.display FROM members m JOIN resources r ON r.pk = m.member_pk \
         WHERE m.group_pk = ? ORDER BY m.member_pk",
    )
    .bind(group)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Member {
                value: r.try_get(0)?,
                kind: r.try_get(1)?,
                display: r.try_get(2)?,
            })
        })
        .collect()
}

/// Direct groups of a resource, and the groups those are in, transitively. `UNION` (not
/// `UNION ALL`) keeps the recursion finite even if a cycle were ever stored.
async fn load_groups(conn: &mut SqliteConnection, member: i64) -> Result<Vec<GroupRef>> {
    let rows = sqlx::query(
        "WITH RECURSIVE up(pk, direct) AS ( \
             SELECT group_pk, 1 FROM members WHERE member_pk = ? \
             UNION \
             SELECT m.group_pk, 0 FROM members m JOIN up ON m.member_pk = up.pk \
         ) \
         SELECT r.id, r.display, MAX(up.direct) FROM up JOIN resources r ON r.pk = up.pk \
         GROUP BY r.pk ORDER BY r.pk",
    )
    .bind(member)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(GroupRef {
                value: r.try_get(0)?,
                display: r.try_get(1)?,
                direct: r.try_get::<i64, _>(2)? != 0,
            })
        })
        .collect()
}

/// A user and its groups in one statement: `GET /Users/{id}` returns `groups` by default, and
/// this keeps it at one round trip to the database. The groups come back as a JSON array of
/// `[pk, id, display, direct]`.
async fn fetch_user_with_groups(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    id: &str,
) -> Result<Option<(i64, Stored)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS}, ( \
             WITH RECURSIVE up(pk, direct) AS ( \
                 SELECT group_pk, 1 FROM members WHERE member_pk = r.pk \
                 UNION \
                 SELECT m.group_pk, 0 FROM members m JOIN up ON m.member_pk = up.pk \
             ) \
             SELECT json_group_array(json_array(x.pk, g.id, g.display, x.direct)) \
             FROM (SELECT pk, MAX(direct) AS direct FROM up GROUP BY pk) x \
             JOIN resources g ON g.pk = x.pk \
         ) FROM resources r WHERE r.tenant = ? AND r.kind = 'User' AND r.id = ?"
    ))
    .bind(tenant.0)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let groups: String = row.try_get(7)?;
    let mut groups: Vec<(i64, String, Option<String>, i64)> = serde_json::from_str(&groups)
        .map_err(|e| StoreError::Database(format!("groups of {id} did not decode: {e}")))?;
    groups.sort_by_key(|g| g.0);
    let (pk, mut stored) = RowData::read(&row)?.into_stored()?;
    stored.groups = Some(
        groups
            .into_iter()
            .map(|(_, value, display, direct)| GroupRef {
                value,
                display,
                direct: direct != 0,
            })
            .collect(),
    );
    Ok(Some((pk, stored)))
}

async fn load_extras(
    conn: &mut SqliteConnection,
    pk: i64,
    stored: &mut Stored,
    load: Load,
) -> Result<()> {
    if load.members && stored.kind == "Group" && stored.members.is_none() {
        stored.members = Some(load_members(conn, pk).await?);
    }
    if load.groups && stored.kind == "User" && stored.groups.is_none() {
        stored.groups = Some(load_groups(conn, pk).await?);
    }
    Ok(())
}

/// A member id resolved in the tenant: its row key, type and display name.
async fn resolve_member(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    id: &str,
) -> Result<Option<(i64, Member)>> {
    let row = sqlx::query(
        "SELECT pk, kind, display FROM resources \
         WHERE tenant = ? AND kind IN ('User', 'Group') AND id = ?",
    )
    .bind(tenant.0)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get(0)?,
            Member {
                value: id.to_owned(),
                kind: r.try_get(1)?,
                display: r.try_get(2)?,
            },
        ))
    })
    .transpose()
}

/// Adds one member; false when it already was one. Refuses a group inside itself, directly or
/// through nesting: `User.groups` and sync engines expand memberships transitively, and a cycle
/// would make every group in it a member of itself.
async fn add_member(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    group: (i64, &str),
    id: &str,
) -> Result<(bool, Member)> {
    let Some((pk, member)) = resolve_member(conn, tenant, id).await? else {
        return Err(StoreError::InvalidMember(format!(
            "member '{id}' does not exist"
        )));
    };
    if pk == group.0 {
        return Err(StoreError::InvalidMember(format!(
            "group '{}' cannot be a member of itself",
            group.1
        )));
    }
    if member.kind == "Group" {
        let cycle = sqlx::query(
            "WITH RECURSIVE up(pk) AS ( \
                 SELECT ? UNION SELECT m.group_pk FROM members m JOIN up ON m.member_pk = up.pk \
             ) SELECT 1 FROM up WHERE pk = ? LIMIT 1",
        )
        .bind(group.0)
        .bind(pk)
        .fetch_optional(&mut *conn)
        .await?;
        if cycle.is_some() {
            return Err(StoreError::InvalidMember(format!(
                "group '{id}' already contains group '{}': adding it would make a cycle",
                group.1
            )));
        }
    }
    let done =
        sqlx::query("INSERT OR IGNORE INTO members (tenant, group_pk, member_pk) VALUES (?, ?, ?)")
            .bind(tenant.0)
            .bind(group.0)
            .bind(pk)
            .execute(&mut *conn)
            .await?;
    Ok((done.rows_affected() > 0, member))
}

/// One statement whatever the number of addresses: the folded values go in as a JSON array.
async fn insert_emails(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    pk: i64,
    emails: &BTreeSet<String>,
) -> Result<()> {
    if emails.is_empty() {
        return Ok(());
    }
    let list = serde_json::to_string(emails).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "INSERT INTO emails (tenant, resource, value_lc) SELECT ?, ?, value FROM json_each(?)",
    )
    .bind(tenant.0)
    .bind(pk)
    .bind(list)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts one new resource inside the caller's write transaction. Members are resolved before
/// anything is written, and the resource row is one statement, so a failed item leaves no trace
/// even without a savepoint. A new group has no parents, so its members cannot close a cycle.
async fn insert_resource(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    kind: &str,
    doc: Value,
    members: &[String],
    now: i64,
) -> Result<Stored> {
    if !members.is_empty() && kind != "Group" {
        return Err(StoreError::InvalidMember(format!(
            "a {kind} has no members"
        )));
    }
    let mut resolved: Vec<(i64, Member)> = Vec::with_capacity(members.len());
    for m in members {
        if resolved.iter().any(|(_, r)| r.value == *m) {
            continue;
        }
        match resolve_member(conn, tenant, m).await? {
            Some(found) => resolved.push(found),
            None => {
                return Err(StoreError::InvalidMember(format!(
                    "member '{m}' does not exist"
                )));
            }
        }
    }
    let ix = Indexed::of(kind, &doc);
    let text = serde_json::to_string(&doc)
        .map_err(|e| StoreError::Database(format!("document does not serialise: {e}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    // The change-feed entry and the count come from the insert trigger.
    let pk: i64 = sqlx::query_scalar(
        "INSERT INTO resources (tenant, kind, id, version, external_id, name_lc, display_lc, \
         display, active, created, last_modified, doc) \
         VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
    )
    .bind(tenant.0)
    .bind(kind)
    .bind(&id)
    .bind(&ix.external_id)
    .bind(ix.name_lc())
    .bind(&ix.display_lc)
    .bind(&ix.name)
    .bind(ix.active)
    .bind(now)
    .bind(now)
    .bind(&text)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| write_error(e, kind, &ix))?;
    insert_emails(conn, tenant, pk, &ix.emails).await?;
    for (member, _) in &resolved {
        sqlx::query("INSERT OR IGNORE INTO members (tenant, group_pk, member_pk) VALUES (?, ?, ?)")
            .bind(tenant.0)
            .bind(pk)
            .bind(member)
            .execute(&mut *conn)
            .await?;
    }
    let at = from_ms(now)?;
    Ok(Stored {
        members: (kind == "Group").then(|| resolved.into_iter().map(|(_, m)| m).collect()),
        groups: (kind == "User").then(Vec::new),
        kind: kind.to_owned(),
        id,
        version: 1,
        created: at,
        last_modified: at,
        doc,
    })
}

fn check(precondition: Precondition, current: i64) -> Result<()> {
    match precondition {
        Precondition::Version(v) if v != current => Err(StoreError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(*i),
            Bind::Text(s) => q.bind(s.as_str()),
        };
    }
    q
}

// --- listing: order, positions, cursors -------------------------------------------------------

/// How a list is ordered.
#[derive(Debug, Clone)]
enum Order {
    /// Creation order within one type.
    Pk,
    /// By a SQL expression, then by `pk` in the same direction.
    Expr {
        sql: String,
        text: bool,
        nullable: bool,
        desc: bool,
    },
    /// By an attribute no column holds: sorted in memory.
    Memory { path: scim::AttrPath, desc: bool },
}

/// A sort key value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Key {
    Null,
    Int(i64),
    Text(String),
}

/// A row's place in the order: the segment (values first, then missing values), its key, its
/// row key. Cursors carry the position of the last row of a page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Pos {
    s: u8,
    k: Key,
    p: i64,
}

/// The RFC 9865 cursor: a position in a given query's order (keyset pagination, stable under
/// concurrent inserts and deletes), or an offset for in-memory sorts. `f` fingerprints the query
/// so that a cursor is not replayed against another filter or order.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Cursor {
    f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<Pos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<u64>,
}

impl Cursor {
    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(text: &str, fingerprint: &str) -> Result<Cursor> {
        let bad =
            || StoreError::InvalidCursor(format!("'{text}' is not a cursor this server issued"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.f != fingerprint {
            return Err(StoreError::InvalidCursor(
                "the cursor belongs to a different filter or sort order".into(),
            ));
        }
        Ok(cursor)
    }
}

impl Order {
    /// The segments rows fall in, in scan order: one, or for a nullable column values (0) and
    /// missing values (1), missing last ascending and first descending (RFC 7644 §3.4.2.3:
    /// descending is the exact reverse).
    fn segments(&self) -> &'static [u8] {
        match self {
            Order::Expr {
                nullable: true,
                desc: false,
                ..
            } => &[0, 1],
            Order::Expr {
                nullable: true,
                desc: true,
                ..
            } => &[1, 0],
            _ => &[0],
        }
    }

    fn desc(&self) -> bool {
        match self {
            Order::Pk => false,
            Order::Expr { desc, .. } | Order::Memory { desc, .. } => *desc,
        }
    }

    /// Compares two positions as the SQL order does (BINARY collation = code point order).
    fn cmp(&self, a: &Pos, b: &Pos) -> Ordering {
        let within = match (&a.k, &b.k) {
            (Key::Int(x), Key::Int(y)) => x.cmp(y),
            (Key::Text(x), Key::Text(y)) => x.cmp(y),
            _ => Ordering::Equal,
        }
        .then(a.p.cmp(&b.p));
        let all = a.s.cmp(&b.s).then(within);
        if self.desc() { all.reverse() } else { all }
    }
}

/// The base of every list query: tenant, type(s), pushed-down filter.
struct Base {
    text: String,
    binds: Vec<Bind>,
}

impl Base {
    fn new(tenant: TenantId, kinds: &[String], condition: Option<&Sql>) -> Base {
        let mut binds = vec![Bind::Int(tenant.0)];
        let mut text = if kinds.len() == 1 {
            "r.tenant = ? AND r.kind = ?".to_owned()
        } else {
            format!(
                "r.tenant = ? AND r.kind IN ({})",
                vec!["?"; kinds.len()].join(", ")
            )
        };
        binds.extend(kinds.iter().map(|k| Bind::Text(k.clone())));
        if let Some(c) = condition {
            text.push_str(&format!(" AND ({})", c.text));
            binds.extend(c.binds.iter().cloned());
        }
        Base { text, binds }
    }
}

/// The SQL for one segment of an ordered scan.
fn segment_sql(
    base: &Base,
    order: &Order,
    seg: u8,
    after: Option<&Pos>,
    offset: i64,
    limit: i64,
) -> (String, Vec<Bind>) {
    let mut text = String::new();
    let mut binds = base.binds.clone();
    let dir = if order.desc() { "DESC" } else { "ASC" };
    let cmp = if order.desc() { "<" } else { ">" };
    let key = match order {
        Order::Expr { sql, .. } => sql.as_str(),
        _ => "NULL",
    };
    text.push_str(&format!(
        "SELECT {COLS}, {key} FROM resources r WHERE {}",
        base.text
    ));
    match order {
        Order::Expr { sql, nullable, .. } => {
            if *nullable {
                let null = if seg == 0 { "IS NOT NULL" } else { "IS NULL" };
                text.push_str(&format!(" AND {sql} {null}"));
            }
            match after {
                Some(Pos { k, p, .. }) if seg == 0 => {
                    text.push_str(&format!(" AND ({sql}, r.pk) {cmp} (?, ?)"));
                    binds.push(match k {
                        Key::Int(i) => Bind::Int(*i),
                        Key::Text(s) => Bind::Text(s.clone()),
                        Key::Null => Bind::Text(String::new()),
                    });
                    binds.push(Bind::Int(*p));
                }
                Some(Pos { p, .. }) => {
                    text.push_str(&format!(" AND r.pk {cmp} ?"));
                    binds.push(Bind::Int(*p));
                }
                None => {}
            }
            if seg == 0 {
                text.push_str(&format!(" ORDER BY {sql} {dir}, r.pk {dir}"));
            } else {
                text.push_str(&format!(" ORDER BY r.pk {dir}"));
            }
        }
        _ => {
            if let Some(Pos { p, .. }) = after {
                text.push_str(&format!(" AND r.pk {cmp} ?"));
                binds.push(Bind::Int(*p));
            }
            text.push_str(&format!(" ORDER BY r.pk {dir}"));
        }
    }
    text.push_str(" LIMIT ? OFFSET ?");
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    (text, binds)
}

/// The rows with these keys, in the order given (the ones deleted meanwhile left out).
async fn fetch_by_pk(conn: &mut SqliteConnection, pks: &[i64]) -> Result<Vec<(i64, Stored)>> {
    let mut out = Vec::with_capacity(pks.len());
    for batch in pks.chunks(500) {
        let text = format!(
            "SELECT {COLS} FROM resources r WHERE r.pk IN ({})",
            vec!["?"; batch.len()].join(", ")
        );
        let mut q = sqlx::query(&text);
        for pk in batch {
            q = q.bind(pk);
        }
        let mut found = std::collections::HashMap::with_capacity(batch.len());
        for row in q.fetch_all(&mut *conn).await? {
            let data = RowData::read(&row)?;
            found.insert(data.pk, data);
        }
        for pk in batch {
            if let Some(data) = found.remove(pk) {
                out.push(data.into_stored()?);
            }
        }
    }
    Ok(out)
}

async fn count(conn: &mut SqliteConnection, text: &str, binds: &[Bind]) -> Result<i64> {
    let row = bind_all(sqlx::query(text), binds)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get(0)?)
}

fn read_pos(row: &SqliteRow, order: &Order, seg: u8, pk: i64) -> Result<Pos> {
    let k = match order {
        Order::Expr { text: true, .. } => row
            .try_get::<Option<String>, _>(7)?
            .map_or(Key::Null, Key::Text),
        Order::Expr { text: false, .. } => row
            .try_get::<Option<i64>, _>(7)?
            .map_or(Key::Null, Key::Int),
        _ => Key::Null,
    };
    Ok(Pos { s: seg, k, p: pk })
}

/// Up to `limit` rows after `after` (or from the start, skipping `offset`), in order.
async fn scan(
    conn: &mut SqliteConnection,
    base: &Base,
    order: &Order,
    after: Option<&Pos>,
    mut offset: i64,
    limit: i64,
) -> Result<Vec<(Pos, RowData)>> {
    let mut out = Vec::new();
    let segments = order.segments();
    let first = after
        .and_then(|p| segments.iter().position(|s| *s == p.s))
        .unwrap_or(0);
    for &seg in &segments[first..] {
        let want = limit - out.len() as i64;
        if want <= 0 {
            break;
        }
        let after = after.filter(|p| p.s == seg);
        let (text, binds) = segment_sql(base, order, seg, after, offset, want);
        let rows = bind_all(sqlx::query(&text), &binds)
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() && offset > 0 {
            // The offset lies beyond this segment: carry what is left of it to the next one.
            let (count_text, count_binds) = segment_sql(base, order, seg, None, 0, -1);
            let n = count(
                conn,
                &format!("SELECT COUNT(*) FROM ({count_text})"),
                &count_binds,
            )
            .await?;
            offset = (offset - n).max(0);
        } else {
            offset = 0;
        }
        for row in &rows {
            let data = RowData::read(row)?;
            out.push((read_pos(row, order, seg, data.pk)?, data));
        }
    }
    Ok(out)
}

// --- the trait --------------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_tenant(&self, name: &str) -> Result<(Tenant, bool)> {
        let mut tx = self.write().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO tenants (name, created) VALUES (?, ?) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(self.now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let (id, created) = match inserted {
            Some(id) => (id, true),
            None => (
                sqlx::query_scalar("SELECT id FROM tenants WHERE name = ?")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?,
                false,
            ),
        };
        tx.commit().await?;
        Ok((
            Tenant {
                id: TenantId(id),
                name: name.to_owned(),
            },
            created,
        ))
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM tenants WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.readers)
            .await?;
        Ok(id.map(|id| Tenant {
            id: TenantId(id),
            name: name.to_owned(),
        }))
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name FROM tenants ORDER BY name")
            .fetch_all(&self.readers)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Tenant {
                    id: TenantId(r.try_get(0)?),
                    name: r.try_get(1)?,
                })
            })
            .collect()
    }

    async fn create_token(
        &self,
        tenant: TenantId,
        hash: [u8; 32],
        label: Option<&str>,
    ) -> Result<TokenInfo> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let now = self.now_ms();
        let mut tx = self.write().await?;
        let tenant_name: Option<String> =
            sqlx::query_scalar("SELECT name FROM tenants WHERE id = ?")
                .bind(tenant.0)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(tenant_name) = tenant_name else {
            return Err(StoreError::Database(format!(
                "tenant {} does not exist",
                tenant.0
            )));
        };
        sqlx::query(
            "INSERT INTO tokens (id, tenant, hash, label, created, revoked) VALUES (?, ?, ?, ?, ?, 0)",
        )
        .bind(&id)
        .bind(tenant.0)
        .bind(&hash[..])
        .bind(label)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TokenInfo {
            id,
            tenant: tenant_name,
            label: label.map(str::to_owned),
            created: from_ms(now)?,
            revoked: false,
        })
    }

    async fn tokens(&self, tenant: Option<TenantId>) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.id, n.name, t.label, t.created, t.revoked FROM tokens t \
             JOIN tenants n ON n.id = t.tenant WHERE ?1 IS NULL OR t.tenant = ?1 \
             ORDER BY t.created, t.id",
        )
        .bind(tenant.map(|t| t.0))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get(0)?,
                    tenant: r.try_get(1)?,
                    label: r.try_get(2)?,
                    created: from_ms(r.try_get(3)?)?,
                    revoked: r.try_get::<i64, _>(4)? != 0,
                })
            })
            .collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query("UPDATE tokens SET revoked = 1 WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Looked up by the hash's index. The lookup's timing can only reveal something about the
    /// SHA-256 of a guess, which does not help find a secret; the caller still compares the
    /// returned hash in constant time.
    async fn authenticate(&self, hash: [u8; 32]) -> Result<Option<Principal>> {
        let row = sqlx::query("SELECT id, tenant, hash FROM tokens WHERE hash = ? AND revoked = 0")
            .bind(&hash[..])
            .fetch_optional(&self.readers)
            .await?;
        row.map(|r| {
            let stored: Vec<u8> = r.try_get(2)?;
            Ok(Principal {
                token_id: r.try_get(0)?,
                tenant: TenantId(r.try_get(1)?),
                hash: stored.try_into().map_err(|_| {
                    StoreError::Database("a stored token hash is not 32 bytes".into())
                })?,
            })
        })
        .transpose()
    }

    async fn create(
        &self,
        tenant: TenantId,
        kind: &str,
        doc: Value,
        members: Vec<String>,
    ) -> Result<Stored> {
        let kind = self.known_kind(kind)?;
        let mut tx = self.write().await?;
        let stored = insert_resource(&mut tx, tenant, &kind, doc, &members, self.now_ms()).await?;
        tx.commit().await?;
        self.changed();
        Ok(stored)
    }

    /// All items in one write transaction: one commit (one WAL append) for the batch instead of
    /// one per resource. Items stay independent because every way an item can fail is detected
    /// before it writes (members) or by the single statement that writes it (uniqueness), which
    /// SQLite rolls back alone; only a database failure aborts the batch.
    async fn create_many(
        &self,
        tenant: TenantId,
        kind: &str,
        items: Vec<(Value, Vec<String>)>,
        max_errors: Option<usize>,
    ) -> Result<Vec<Result<Stored>>> {
        let kind = self.known_kind(kind)?;
        let mut tx = self.write().await?;
        let mut out = Vec::with_capacity(items.len());
        let mut errors = 0;
        for (doc, members) in items {
            if max_errors.is_some_and(|max| errors >= max) {
                break;
            }
            match insert_resource(&mut tx, tenant, &kind, doc, &members, self.now_ms()).await {
                Err(e @ (StoreError::Database(_) | StoreError::Migration(_))) => return Err(e),
                Err(e) => {
                    errors += 1;
                    out.push(Err(e));
                }
                Ok(s) => out.push(Ok(s)),
            }
        }
        tx.commit().await?;
        if out.iter().any(Result::is_ok) {
            self.changed();
        }
        Ok(out)
    }

    async fn get(
        &self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        load: Load,
    ) -> Result<Option<Stored>> {
        let Some(kind) = self.kind(kind) else {
            return Ok(None);
        };
        // No read transaction: it would cost two more round trips on the hottest path, and
        // memberships are not part of the resource's version anyway: a membership change that
        // lands between the two reads is simply seen, as a read a moment later would see it.
        let mut conn = self.readers.acquire().await?;
        if load.groups && kind == "User" {
            return Ok(fetch_user_with_groups(&mut conn, tenant, id)
                .await?
                .map(|(_, s)| s));
        }
        let Some(row) = fetch_row(&mut conn, tenant, &kind, id).await? else {
            return Ok(None);
        };
        let (pk, mut stored) = row.into_stored()?;
        load_extras(&mut conn, pk, &mut stored, load).await?;
        Ok(Some(stored))
    }

    async fn modify(
        &self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        precondition: Precondition,
        load: Load,
        modify: &Modify<'_>,
    ) -> Result<Stored> {
        let kind = self.known_kind(kind)?;
        let not_found = || StoreError::NotFound {
            kind: kind.clone(),
            id: id.to_owned(),
        };
        let mut tx = self.write().await?;
        let (pk, mut current) = if load.groups && kind == "User" {
            fetch_user_with_groups(&mut tx, tenant, id).await?
        } else {
            fetch_row(&mut tx, tenant, &kind, id)
                .await?
                .map(RowData::into_stored)
                .transpose()?
        }
        .ok_or_else(not_found)?;
        check(precondition, current.version)?;
        load_extras(&mut tx, pk, &mut current, load).await?;
        let change = modify(&current)?;

        let new_doc = change.doc.filter(|d| *d != current.doc);
        let mut members_changed = false;
        for delta in &change.members {
            if kind != "Group" {
                return Err(StoreError::InvalidMember(format!(
                    "a {kind} has no members"
                )));
            }
            match delta {
                MemberChange::Add(ids) => {
                    for m in ids {
                        members_changed |= add_member(&mut tx, tenant, (pk, id), m).await?.0;
                    }
                }
                MemberChange::Remove(ids) => {
                    for m in ids {
                        let done = sqlx::query(
                            "DELETE FROM members WHERE group_pk = ? AND member_pk = \
                             (SELECT pk FROM resources WHERE tenant = ? \
                              AND kind IN ('User', 'Group') AND id = ?)",
                        )
                        .bind(pk)
                        .bind(tenant.0)
                        .bind(m)
                        .execute(&mut *tx)
                        .await?;
                        members_changed |= done.rows_affected() > 0;
                    }
                }
                MemberChange::RemoveAll => {
                    let done = sqlx::query("DELETE FROM members WHERE group_pk = ?")
                        .bind(pk)
                        .execute(&mut *tx)
                        .await?;
                    members_changed |= done.rows_affected() > 0;
                }
            }
        }
        let changed = new_doc.is_some() || members_changed;
        if changed {
            // One statement writes the document, its indexed columns and the new version; the
            // update trigger appends the change.
            let now = self.now_ms();
            current.version += 1;
            current.last_modified = from_ms(now)?;
            match new_doc {
                Some(doc) => {
                    let ix = Indexed::of(&kind, &doc);
                    let text = serde_json::to_string(&doc).map_err(|e| {
                        StoreError::Database(format!("document does not serialise: {e}"))
                    })?;
                    sqlx::query(
                        "UPDATE resources SET doc = ?, external_id = ?, name_lc = ?, \
                         display_lc = ?, display = ?, active = ?, version = ?, last_modified = ? \
                         WHERE pk = ?",
                    )
                    .bind(&text)
                    .bind(&ix.external_id)
                    .bind(ix.name_lc())
                    .bind(&ix.display_lc)
                    .bind(&ix.name)
                    .bind(ix.active)
                    .bind(current.version)
                    .bind(now)
                    .bind(pk)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, &kind, &ix))?;
                    let old = Indexed::of(&kind, &current.doc);
                    if old.emails != ix.emails {
                        sqlx::query("DELETE FROM emails WHERE resource = ?")
                            .bind(pk)
                            .execute(&mut *tx)
                            .await?;
                        insert_emails(&mut tx, tenant, pk, &ix.emails).await?;
                    }
                    current.doc = doc;
                }
                None => {
                    sqlx::query("UPDATE resources SET version = ?, last_modified = ? WHERE pk = ?")
                        .bind(current.version)
                        .bind(now)
                        .bind(pk)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        if load.members && kind == "Group" {
            if members_changed || current.members.is_none() {
                current.members = Some(load_members(&mut tx, pk).await?);
            }
        } else {
            current.members = None;
        }
        if load.groups && kind == "User" {
            if current.groups.is_none() {
                current.groups = Some(load_groups(&mut tx, pk).await?);
            }
        } else {
            current.groups = None;
        }
        tx.commit().await?;
        if changed {
            self.changed();
        }
        Ok(current)
    }

    /// Deleting a resource also takes it out of every group it was in; each of those groups
    /// changed (its `members` did), so each gets a new version and a change-feed entry, which
    /// is what a sync engine reading the feed needs to propagate the removal.
    async fn delete(
        &self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<()> {
        let kind = self.known_kind(kind)?;
        let mut tx = self.write().await?;
        let Some(row) = fetch_row(&mut tx, tenant, &kind, id).await? else {
            return Err(StoreError::NotFound {
                kind,
                id: id.to_owned(),
            });
        };
        check(precondition, row.version)?;
        // Each group that loses the resource as a member gets a new version (the update
        // trigger records it); memberships in both directions and email index rows then go by
        // ON DELETE CASCADE, and the delete trigger records the deletion.
        sqlx::query(
            "UPDATE resources SET version = version + 1, last_modified = ? \
             WHERE pk IN (SELECT group_pk FROM members WHERE member_pk = ?)",
        )
        .bind(self.now_ms())
        .bind(row.pk)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM resources WHERE pk = ?")
            .bind(row.pk)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    async fn list(&self, tenant: TenantId, kind: Option<&str>, query: &Query) -> Result<Page> {
        let kinds = match kind {
            Some(k) => vec![self.known_kind(k)?],
            None => self.all_kinds(),
        };
        let kind_refs: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let plan = query
            .filter
            .as_ref()
            .map(|f| plan::plan(f, tenant.0, &kind_refs));
        let order = self.order(&kinds, query)?;
        let base = Base::new(
            tenant,
            &kinds,
            plan.as_ref().and_then(|p| p.condition.as_ref()),
        );
        let fingerprint = fingerprint(&kinds, query);
        let cursor = match query.cursor.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(text) => Some(Some(Cursor::decode(text, &fingerprint)?)),
        };
        let eval = match (&query.filter, &plan) {
            (Some(f), Some(p)) if !p.exact => Some(f),
            _ => None,
        };
        let ctx = ListCtx {
            store: self,
            tenant,
            kinds: &kinds,
            query,
            base: &base,
            order: &order,
            fingerprint: &fingerprint,
            cursor: cursor.as_ref().map(|c| c.as_ref()),
        };
        let mut conn = self.readers.acquire().await?;
        if !matches!(order, Order::Memory { .. }) {
            let alone = match eval {
                None => ctx.first_page_alone(&mut conn).await?,
                Some(filter) => ctx.streamed_alone(&mut conn, filter).await?,
            };
            if let Some((total, rows, next)) = alone {
                return page(&mut conn, total, rows, next, query.load).await;
            }
        }
        // Several statements (count, page, chunks, memberships) read one snapshot.
        let mut tx = conn.begin().await?;
        let (total, rows, next) = match (&order, eval) {
            (Order::Memory { .. }, _) => ctx.in_memory(&mut tx, query.filter.as_ref()).await?,
            (_, Some(filter)) => ctx.streamed(&mut tx, filter).await?,
            (_, None) => ctx.exact(&mut tx).await?,
        };
        let page = page(&mut tx, total, rows, next, query.load).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn changes(&self, tenant: TenantId, after: i64, limit: u32) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT seq, kind, id, op, version FROM changes WHERE tenant = ? AND seq > ? \
             ORDER BY seq LIMIT ?",
        )
        .bind(tenant.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|r| {
                let op: String = r.try_get(3)?;
                Ok(Change {
                    seq: r.try_get(0)?,
                    tenant,
                    kind: r.try_get(1)?,
                    id: r.try_get(2)?,
                    op: match op.as_str() {
                        "create" => ChangeOp::Create,
                        "delete" => ChangeOp::Delete,
                        _ => ChangeOp::Update,
                    },
                    version: r.try_get(4)?,
                })
            })
            .collect()
    }

    fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.feed.subscribe()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }
}

/// A page of rows with their total and the next cursor.
type Window = (u64, Vec<(i64, Stored)>, Option<String>);

/// The page as returned: memberships loaded as asked, and only as asked.
async fn page(
    conn: &mut SqliteConnection,
    total: u64,
    rows: Vec<(i64, Stored)>,
    next_cursor: Option<String>,
    load: Load,
) -> Result<Page> {
    let mut resources = Vec::with_capacity(rows.len());
    for (pk, mut stored) in rows {
        load_extras(conn, pk, &mut stored, load).await?;
        if !load.members {
            stored.members = None;
        }
        if !load.groups {
            stored.groups = None;
        }
        resources.push(stored);
    }
    Ok(Page {
        total,
        resources,
        next_cursor,
    })
}

/// Everything a list strategy needs.
struct ListCtx<'a> {
    store: &'a SqliteStore,
    tenant: TenantId,
    kinds: &'a [String],
    query: &'a Query,
    base: &'a Base,
    order: &'a Order,
    fingerprint: &'a str,
    /// `Some(None)`: cursor paging from the start; `Some(Some(c))`: after `c`.
    cursor: Option<Option<&'a Cursor>>,
}

impl ListCtx<'_> {
    fn offset(&self) -> u64 {
        self.query.start_index.max(1) - 1
    }

    fn next_cursor(&self, at: Option<Pos>, o: Option<u64>) -> String {
        Cursor {
            f: self.fingerprint.to_owned(),
            at,
            o,
        }
        .encode()
    }

    /// The common lookup (`userName eq "…"`, `externalId eq "…"`): a filtered first page that is
    /// not full holds the whole result, so it is its own total and one statement answers the
    /// request without a COUNT or a transaction. `None` when the result spans pages.
    async fn first_page_alone(&self, conn: &mut SqliteConnection) -> Result<Option<Window>> {
        let count = i64::try_from(self.query.count).unwrap_or(i64::MAX);
        let first = match self.cursor {
            Some(c) => c.is_none(),
            None => self.offset() == 0,
        };
        // One statement only: an order with a separate segment for missing values takes two,
        // which then want a snapshot.
        if self.query.filter.is_none() || count == 0 || !first || self.order.segments().len() > 1 {
            return Ok(None);
        }
        let rows = scan(
            conn,
            self.base,
            self.order,
            None,
            0,
            count.saturating_add(1),
        )
        .await?;
        if rows.len() as i64 > count {
            return Ok(None);
        }
        let rows: Vec<(i64, Stored)> = rows
            .into_iter()
            .map(|(_, r)| r.into_stored())
            .collect::<Result<_>>()?;
        Ok(Some((rows.len() as u64, rows, None)))
    }

    /// The filter is answered entirely by SQL: count, then fetch only the page.
    async fn exact(&self, conn: &mut SqliteConnection) -> Result<Window> {
        let total = if self.query.filter.is_none() {
            let mut sum = 0i64;
            for k in self.kinds {
                let n: Option<i64> = sqlx::query_scalar(
                    "SELECT n FROM resource_counts WHERE tenant = ? AND kind = ?",
                )
                .bind(self.tenant.0)
                .bind(k)
                .fetch_optional(&mut *conn)
                .await?;
                sum += n.unwrap_or(0);
            }
            sum
        } else {
            let text = format!("SELECT COUNT(*) FROM resources r WHERE {}", self.base.text);
            count(conn, &text, &self.base.binds).await?
        };
        let total = u64::try_from(total).unwrap_or(0);
        let count = i64::try_from(self.query.count).unwrap_or(i64::MAX);
        if count == 0 {
            return Ok((total, Vec::new(), None));
        }
        let (rows, next) = match self.cursor {
            Some(cursor) => {
                let after = cursor.and_then(|c| c.at.as_ref());
                let mut rows = scan(
                    conn,
                    self.base,
                    self.order,
                    after,
                    0,
                    count.saturating_add(1),
                )
                .await?;
                let more = rows.len() as i64 > count;
                rows.truncate(usize::try_from(count).unwrap_or(usize::MAX));
                let next = more
                    .then(|| {
                        rows.last()
                            .map(|(p, _)| self.next_cursor(Some(p.clone()), None))
                    })
                    .flatten();
                (rows, next)
            }
            None => {
                let offset = i64::try_from(self.offset()).unwrap_or(i64::MAX);
                (
                    scan(conn, self.base, self.order, None, offset, count).await?,
                    None,
                )
            }
        };
        let rows = rows
            .into_iter()
            .map(|(_, r)| r.into_stored())
            .collect::<Result<_>>()?;
        Ok((total, rows, next))
    }

    /// SQL narrows and orders; the evaluator decides each candidate. Every candidate is read
    /// (the total needs them all) in chunks, keeping only the page.
    async fn streamed(
        &self,
        conn: &mut SqliteConnection,
        filter: &crate::Filter,
    ) -> Result<Window> {
        let mut acc = Accumulator::new(self, filter);
        let mut from: Option<Pos> = None;
        loop {
            let chunk = scan(conn, self.base, self.order, from.as_ref(), 0, SCAN_CHUNK).await?;
            let complete = (chunk.len() as i64) < SCAN_CHUNK;
            from = chunk.last().map(|(p, _)| p.clone());
            acc.feed(conn, chunk).await?;
            if complete || from.is_none() {
                break;
            }
        }
        Ok(acc.finish())
    }

    /// The usual inexact lookup (`emails[type eq "work"].value eq "…"`) has a handful of
    /// candidates: when one statement returns them all, answer from it without a transaction.
    /// `None` when there are more candidates than one chunk.
    async fn streamed_alone(
        &self,
        conn: &mut SqliteConnection,
        filter: &crate::Filter,
    ) -> Result<Option<Window>> {
        if self.order.segments().len() > 1 {
            return Ok(None);
        }
        let chunk = scan(conn, self.base, self.order, None, 0, SCAN_CHUNK).await?;
        if chunk.len() as i64 >= SCAN_CHUNK {
            return Ok(None);
        }
        let mut acc = Accumulator::new(self, filter);
        acc.feed(conn, chunk).await?;
        Ok(Some(acc.finish()))
    }

    /// Sorting by an attribute no column holds: the sort key of every match is computed and
    /// sorted in memory with the protocol crate's keys (the order RFC 7644 defines, whatever
    /// the backend), then only the page's rows are read back. Only keys are held, at most
    /// [`MAX_IN_MEMORY_SORT`] of them. Its cursor is an offset, so unlike the keyset cursors it
    /// can shift by the rows inserted or deleted between pages.
    async fn in_memory(
        &self,
        conn: &mut SqliteConnection,
        filter: Option<&crate::Filter>,
    ) -> Result<Window> {
        let Order::Memory { path, desc } = self.order else {
            return Err(StoreError::Database("in-memory sort without a path".into()));
        };
        let registry = &*self.store.registry;
        let sort_by: Vec<(&str, Option<scim::sort::SortBy<'_>>)> = self
            .kinds
            .iter()
            .map(|k| {
                let s = registry
                    .resource_type(k)
                    .and_then(|rt| scim::sort::SortBy::new(registry, rt, path).ok());
                (k.as_str(), s)
            })
            .collect();
        let need = filter.map(need_for).unwrap_or_default();
        let mut keyed: Vec<(scim::sort::SortKey, i64)> = Vec::new();
        let mut from: Option<Pos> = None;
        loop {
            let chunk = scan(conn, self.base, &Order::Pk, from.as_ref(), 0, SCAN_CHUNK).await?;
            let complete = (chunk.len() as i64) < SCAN_CHUNK;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            from = Some(last.clone());
            for (_, row) in chunk {
                let (pk, mut stored) = row.into_stored()?;
                load_extras(conn, pk, &mut stored, need).await?;
                if filter.is_some_and(|f| !self.store.matches(f, &stored)) {
                    continue;
                }
                if keyed.len() >= MAX_IN_MEMORY_SORT {
                    return Err(StoreError::Scim(scim::Error::TooMany(format!(
                        "sorting by '{path}' is done in memory, for at most \
                         {MAX_IN_MEMORY_SORT} resources; narrow the filter or sort by an \
                         indexed attribute"
                    ))));
                }
                let key = sort_by
                    .iter()
                    .find(|(k, _)| *k == stored.kind)
                    .and_then(|(_, s)| *s)
                    .map_or(scim::sort::SortKey::Missing, |s| {
                        s.key(&resource_json(&stored))
                    });
                keyed.push((key, pk));
            }
            if complete {
                break;
            }
        }
        // Ties in creation order; descending is the exact reverse, like the SQL orders.
        keyed.sort();
        if *desc {
            keyed.reverse();
        }
        let total = keyed.len() as u64;
        let start = match self.cursor {
            Some(c) => c.and_then(|c| c.o).unwrap_or(0),
            None => self.offset(),
        };
        let window: Vec<i64> = keyed
            .into_iter()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(usize::try_from(self.query.count).unwrap_or(usize::MAX))
            .map(|(_, pk)| pk)
            .collect();
        let rows = fetch_by_pk(conn, &window).await?;
        let end = start.saturating_add(rows.len() as u64);
        let next = (self.cursor.is_some() && end < total && !rows.is_empty())
            .then(|| self.next_cursor(None, Some(end)));
        Ok((total, rows, next))
    }
}

/// Candidates in list order go in; the total, the page and whether more follow come out.
struct Accumulator<'c, 'a> {
    ctx: &'c ListCtx<'a>,
    filter: &'c crate::Filter,
    after: Option<Pos>,
    need: Load,
    total: u64,
    page: Vec<(Pos, i64, Stored)>,
    more: bool,
}

impl<'c, 'a> Accumulator<'c, 'a> {
    fn new(ctx: &'c ListCtx<'a>, filter: &'c crate::Filter) -> Self {
        Accumulator {
            ctx,
            filter,
            after: ctx.cursor.flatten().and_then(|c| c.at.clone()),
            need: need_for(filter),
            total: 0,
            page: Vec::new(),
            more: false,
        }
    }

    async fn feed(
        &mut self,
        conn: &mut SqliteConnection,
        chunk: Vec<(Pos, RowData)>,
    ) -> Result<()> {
        for (pos, row) in chunk {
            let (pk, mut stored) = row.into_stored()?;
            load_extras(conn, pk, &mut stored, self.need).await?;
            if !self.ctx.store.matches(self.filter, &stored) {
                continue;
            }
            self.total += 1;
            let in_window = match (&self.ctx.cursor, &self.after) {
                (Some(_), Some(a)) => self.ctx.order.cmp(&pos, a) == Ordering::Greater,
                (Some(_), None) => true,
                (None, _) => self.total > self.ctx.offset(),
            };
            if in_window {
                if (self.page.len() as u64) < self.ctx.query.count {
                    self.page.push((pos, pk, stored));
                } else {
                    self.more = true;
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Window {
        let next = match self.ctx.cursor {
            Some(_) if self.more => self
                .page
                .last()
                .map(|(p, _, _)| self.ctx.next_cursor(Some(p.clone()), None)),
            _ => None,
        };
        let rows = self.page.into_iter().map(|(_, pk, s)| (pk, s)).collect();
        (self.total, rows, next)
    }
}

/// What the evaluator needs loaded beside the document for this filter.
fn need_for(filter: &crate::Filter) -> Load {
    Load {
        members: plan::touches(filter, "members"),
        groups: plan::touches(filter, "groups"),
    }
}

/// Identifies a query's filter, order and types, so a cursor cannot be replayed on another.
fn fingerprint(kinds: &[String], query: &Query) -> String {
    let text = format!(
        "{kinds:?}|{:?}|{:?}|{:?}",
        query.filter, query.sort_by, query.sort_order
    );
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl SqliteStore {
    /// The order of a list: a column (or a per-type CASE of columns) where one holds the sort
    /// attribute, in memory otherwise.
    fn order(&self, kinds: &[String], query: &Query) -> Result<Order> {
        let desc = query.sort_order == SortOrder::Descending;
        let Some(path) = &query.sort_by else {
            return Ok(if kinds.len() == 1 {
                Order::Pk
            } else {
                Order::Expr {
                    sql: "r.kind".into(),
                    text: true,
                    nullable: false,
                    desc: false,
                }
            });
        };
        let mut cols = Vec::new();
        for k in kinds {
            match plan::column(k, path) {
                Some(Col::Email | Col::Member) => {
                    return self.memory_order(kinds, path, desc);
                }
                Some(c) => cols.push((k.as_str(), Some(c))),
                None => {
                    let known = self
                        .registry
                        .resource_type(k)
                        .and_then(|rt| self.registry.resolve(rt, path))
                        .is_some();
                    if known {
                        return self.memory_order(kinds, path, desc);
                    }
                    // The type has no such attribute: its resources sort as missing values.
                    cols.push((k.as_str(), None));
                }
            }
        }
        let present: Vec<Col> = cols.iter().filter_map(|(_, c)| *c).collect();
        let Some(first) = present.first().copied() else {
            return Err(StoreError::Scim(scim::Error::InvalidValue(format!(
                "sortBy names '{path}', which is not an attribute of {}",
                kinds.join(" or ")
            ))));
        };
        if present.iter().any(|c| c.is_time() != first.is_time()) {
            return self.memory_order(kinds, path, desc);
        }
        if cols.iter().all(|(_, c)| *c == Some(first)) {
            return Ok(Order::Expr {
                sql: first.sql().into(),
                text: !first.is_time() && first != Col::Active,
                nullable: first.nullable(),
                desc,
            });
        }
        let mut sql = "CASE r.kind".to_owned();
        for (k, c) in &cols {
            if let Some(c) = c {
                sql.push_str(&format!(" WHEN '{k}' THEN {}", c.sql()));
            }
        }
        sql.push_str(" END");
        Ok(Order::Expr {
            sql,
            text: !first.is_time() && first != Col::Active,
            nullable: true,
            desc,
        })
    }

    /// An in-memory order, once the protocol crate agrees the path is sortable for every type
    /// that defines it (a complex attribute without a sub-attribute is `invalidValue`).
    fn memory_order(&self, kinds: &[String], path: &scim::AttrPath, desc: bool) -> Result<Order> {
        for k in kinds {
            if let Some(rt) = self.registry.resource_type(k)
                && self.registry.resolve(rt, path).is_some()
            {
                scim::sort::SortBy::new(&self.registry, rt, path)?;
            }
        }
        Ok(Order::Memory {
            path: path.clone(),
            desc,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Query plans: every request shape the benchmarks measure is an index search, never a
    //! scan of the tenant.

    use super::*;

    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let s = SqliteStore::open(path.to_str().unwrap(), Arc::new(scim::Registry::rfc7643()))
            .await
            .unwrap();
        (s, dir)
    }

    async fn explain(s: &SqliteStore, text: &str, binds: &[Bind]) -> Vec<String> {
        let mut conn = s.readers.acquire().await.unwrap();
        let rows = bind_all(sqlx::query(&format!("EXPLAIN QUERY PLAN {text}")), binds)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<String, _>(3)).collect()
    }

    /// No full scan of a table or index.
    fn assert_searches(plan: &[String], what: &str) {
        assert!(
            plan.iter().all(|l| !l.starts_with("SCAN")),
            "{what}: {plan:?}"
        );
    }

    /// A page straight off an index: no scan, and no sort of the whole set before the LIMIT.
    fn assert_streams(plan: &[String], what: &str) {
        assert_searches(plan, what);
        assert!(
            plan.iter().all(|l| !l.contains("TEMP B-TREE")),
            "{what}: {plan:?}"
        );
    }

    async fn list_plan(
        s: &SqliteStore,
        filter: &str,
        sort: Option<&str>,
        cursor: bool,
    ) -> Vec<String> {
        let kinds = vec!["User".to_owned()];
        let query = Query {
            filter: (!filter.is_empty()).then(|| scim::Filter::parse(filter).unwrap()),
            sort_by: sort.map(|p| scim::AttrPath::parse(p).unwrap()),
            ..Query::default()
        };
        let plan = query.filter.as_ref().map(|f| plan::plan(f, 1, &["User"]));
        let order = s.order(&kinds, &query).unwrap();
        let base = Base::new(
            TenantId(1),
            &kinds,
            plan.as_ref().and_then(|p| p.condition.as_ref()),
        );
        let after = Pos {
            s: 0,
            k: match &order {
                Order::Expr { text: true, .. } => Key::Text("m".into()),
                Order::Expr { .. } => Key::Int(5),
                _ => Key::Null,
            },
            p: 10,
        };
        let (text, binds) = segment_sql(&base, &order, 0, cursor.then_some(&after), 0, 100);
        explain(s, &text, &binds).await
    }

    #[tokio::test]
    async fn hot_queries_use_indexes() {
        let (s, _dir) = store().await;
        let plan = explain(
            &s,
            &format!(
                "SELECT {COLS} FROM resources r WHERE r.tenant = ? AND r.kind = ? AND r.id = ?"
            ),
            &[
                Bind::Int(1),
                Bind::Text("User".into()),
                Bind::Text("x".into()),
            ],
        )
        .await;
        assert_searches(&plan, "get by id");
        for f in [
            r#"userName eq "bjensen""#,
            r#"externalId eq "e1""#,
            r#"emails.value eq "a@b.c""#,
            r#"emails[type eq "work" and value eq "a@b.c"]"#,
            r#"meta.lastModified gt "2024-01-01T00:00:00Z""#,
            r#"userName sw "bj""#,
            r#"active eq true and userName eq "x""#,
            r#"active eq false"#,
            r#"userName eq "a" or externalId eq "b""#,
            r#"displayName eq "Barbara""#,
        ] {
            assert_searches(&list_plan(&s, f, None, false).await, f);
        }
        for (sort, cursor) in [
            (None, false),
            (None, true),
            (Some("userName"), false),
            (Some("userName"), true),
            (Some("externalId"), true),
            (Some("meta.lastModified"), true),
        ] {
            let plan = list_plan(&s, "", sort, cursor).await;
            assert_streams(&plan, &format!("page sorted by {sort:?}, cursor {cursor}"));
        }
        let plan = explain(
            &s,
            "SELECT r.id, r.kind, r.display FROM members m JOIN resources r ON r.pk = m.member_pk \
             WHERE m.group_pk = ? ORDER BY m.member_pk",
            &[Bind::Int(1)],
        )
        .await;
        assert_searches(&plan, "members of a group");
    }

    #[test]
    fn positions_order_like_the_sql() {
        let asc = Order::Expr {
            sql: "r.external_id".into(),
            text: true,
            nullable: true,
            desc: false,
        };
        let pos = |s, k: Option<&str>, p| Pos {
            s,
            k: k.map_or(Key::Null, |k| Key::Text(k.into())),
            p,
        };
        assert_eq!(
            asc.cmp(&pos(0, Some("a"), 9), &pos(0, Some("b"), 1)),
            Ordering::Less
        );
        assert_eq!(
            asc.cmp(&pos(0, Some("z"), 9), &pos(1, None, 1)),
            Ordering::Less
        );
        let desc = Order::Expr {
            sql: "r.external_id".into(),
            text: true,
            nullable: true,
            desc: true,
        };
        assert_eq!(
            desc.cmp(&pos(1, None, 1), &pos(0, Some("z"), 9)),
            Ordering::Less
        );
        assert_eq!(
            desc.cmp(&pos(0, Some("b"), 1), &pos(0, Some("a"), 9)),
            Ordering::Less
        );
        assert_eq!(desc.segments(), &[1, 0]);
    }

    #[test]
    fn indexed_columns_come_from_the_canonical_document() {
        let doc = json!({"userName": "BJensen", "displayName": "Ba", "externalId": "e",
                         "active": true,
                         "emails": [{"value": "A@B.c"}, {"value": "a@b.C"}, {"type": "x"}]});
        let ix = Indexed::of("User", &doc);
        assert_eq!(ix.name.as_deref(), Some("BJensen"));
        assert_eq!(ix.name_lc().as_deref(), Some("bjensen"));
        assert_eq!(ix.display_lc.as_deref(), Some("ba"));
        assert_eq!(ix.active, Some(true));
        assert_eq!(ix.emails.into_iter().collect::<Vec<_>>(), vec!["a@b.c"]);
        let ix = Indexed::of("Group", &json!({"displayName": "Admins"}));
        assert_eq!(ix.name_lc().as_deref(), Some("admins"));
        assert_eq!(ix.display_lc, None);
    }
}
