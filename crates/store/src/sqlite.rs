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
//! Listing is [`crate::list`], shared with the PostgreSQL backend; a list that takes several
//! statements runs them in one read transaction on a reader connection, so they see one
//! snapshot. The per-type counts an unfiltered list reports are kept by triggers.
//!
//! Writes: deleting a resource removes its memberships in both directions, and each group that
//! lost it as a member gets a new version and a change-feed entry, since its `members` changed.
//! A user's own version does not move when its groups change: `groups` is derived from the
//! membership table, and bumping every member of a group (transitively) on each membership
//! change would make one membership change cost the group's size.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use time::OffsetDateTime;

use crate::doc::{COLS, Indexed, Kinds, RowData, check, from_ms, write_error};
use crate::list::{Conn, Key, Listing};
use crate::plan::{Bind, Dialect};
use crate::{
    Change, ChangeOp, GroupRef, Load, Member, MemberChange, Modify, Page, Precondition, Principal,
    Query, Result, Store, StoreError, Stored, Tenant, TenantId, TokenInfo,
};

pub use crate::Clock;
pub use crate::list::MAX_IN_MEMORY_SORT;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

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
    kinds: Kinds,
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
        // No liveness test on acquire: a connection to a local file does not go stale, and the
        // test is a round trip to the connection's worker thread on every request (measured:
        // the largest single cost of a GET by id after the query itself).
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
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
            .test_before_acquire(false)
            .max_connections(options.readers.max(1))
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(base.read_only(true))
            .await?;
        Ok(SqliteStore {
            writer,
            readers,
            kinds: Kinds(registry),
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

    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

// --- rows -----------------------------------------------------------------------------------

fn read_row(row: &SqliteRow) -> Result<RowData> {
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
    row.as_ref().map(read_row).transpose()
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
///
/// `CROSS JOIN` pins the join order: SQLite's planner, without statistics, may otherwise put
/// `resources` in the outer loop and scan the whole table for every user listed (measured: 0.3 s
/// a user at 100,000 users), since it cannot tell that the recursive set is tiny.
const GROUPS_OF: &str = "WITH RECURSIVE up(pk, direct) AS ( \
         SELECT group_pk, 1 FROM members WHERE member_pk = ? \
         UNION \
         SELECT m.group_pk, 0 FROM members m JOIN up ON m.member_pk = up.pk \
     ) \
     SELECT r.id, r.display, MAX(up.direct) FROM up CROSS JOIN resources r ON r.pk = up.pk \
     GROUP BY r.pk ORDER BY r.pk";

async fn load_groups(conn: &mut SqliteConnection, member: i64) -> Result<Vec<GroupRef>> {
    let rows = sqlx::query(GROUPS_OF)
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
    let row = sqlx::query(&user_with_groups_sql())
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    user_with_groups(&row, id)
}

/// The statement of [`fetch_user_with_groups`]; `CROSS JOIN` pins the join order as in
/// [`GROUPS_OF`].
fn user_with_groups_sql() -> String {
    format!(
        "SELECT {COLS}, ( \
             WITH RECURSIVE up(pk, direct) AS ( \
                 SELECT group_pk, 1 FROM members WHERE member_pk = r.pk \
                 UNION \
                 SELECT m.group_pk, 0 FROM members m JOIN up ON m.member_pk = up.pk \
             ) \
             SELECT json_group_array(json_array(x.pk, g.id, g.display, x.direct)) \
             FROM (SELECT pk, MAX(direct) AS direct FROM up GROUP BY pk) x \
             CROSS JOIN resources g ON g.pk = x.pk \
         ) FROM resources r WHERE r.tenant = ? AND r.kind = 'User' AND r.id = ?"
    )
}

fn user_with_groups(row: &SqliteRow, id: &str) -> Result<Option<(i64, Stored)>> {
    let groups: String = row.try_get(7)?;
    let mut groups: Vec<(i64, String, Option<String>, i64)> = serde_json::from_str(&groups)
        .map_err(|e| StoreError::Database(format!("groups of {id} did not decode: {e}")))?;
    groups.sort_by_key(|g| g.0);
    let (pk, mut stored) = read_row(row)?.into_stored()?;
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

// --- listing ----------------------------------------------------------------------------------

#[async_trait]
impl Conn for SqliteConnection {
    async fn rows(
        &mut self,
        text: &str,
        binds: &[Bind],
        text_key: bool,
    ) -> Result<Vec<(RowData, Key)>> {
        let rows = bind_all(sqlx::query(text), binds)
            .fetch_all(&mut *self)
            .await?;
        rows.iter()
            .map(|row| {
                let k = if text_key {
                    row.try_get::<Option<String>, _>(7)?
                        .map_or(Key::Null, Key::Text)
                } else {
                    row.try_get::<Option<i64>, _>(7)?
                        .map_or(Key::Null, Key::Int)
                };
                Ok((read_row(row)?, k))
            })
            .collect()
    }

    async fn count(&mut self, text: &str, binds: &[Bind]) -> Result<i64> {
        let row = bind_all(sqlx::query(text), binds)
            .fetch_one(&mut *self)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn type_count(&mut self, tenant: TenantId, kind: &str) -> Result<i64> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT n FROM resource_counts WHERE tenant = ? AND kind = ?")
                .bind(tenant.0)
                .bind(kind)
                .fetch_optional(&mut *self)
                .await?;
        Ok(n.unwrap_or(0))
    }

    async fn fetch_by_pk(&mut self, pks: &[i64]) -> Result<Vec<(i64, Stored)>> {
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
            for row in q.fetch_all(&mut *self).await? {
                let data = read_row(&row)?;
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

    async fn load_extras(&mut self, pk: i64, stored: &mut Stored, load: Load) -> Result<()> {
        load_extras(self, pk, stored, load).await
    }
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
        let kind = self.kinds.known_kind(kind)?;
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
        let kind = self.kinds.known_kind(kind)?;
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
        let Some(kind) = self.kinds.kind(kind) else {
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
        let kind = self.kinds.known_kind(kind)?;
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
        let kind = self.kinds.known_kind(kind)?;
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
        let listing = Listing::new(&self.kinds, tenant, kind, query, Dialect::Sqlite)?;
        let mut conn = self.readers.acquire().await?;
        if let Some(page) = listing.alone(&mut *conn).await? {
            return Ok(page);
        }
        // Several statements (count, page, chunks, memberships) read one snapshot.
        let mut tx = conn.begin().await?;
        let page = listing.run(&mut *tx).await?;
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

#[cfg(test)]
mod tests {
    //! Query plans: every request shape the benchmarks measure is an index search, never a
    //! scan of the tenant.

    use std::cmp::Ordering;

    use serde_json::json;

    use super::*;
    use crate::list::{Base, Order, Pos, segment_sql};
    use crate::plan;

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
        let plan = query
            .filter
            .as_ref()
            .map(|f| plan::plan(f, 1, &["User"], Dialect::Sqlite));
        let order = s.kinds.order(&kinds, &query).unwrap();
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
        // The recursive set is scanned (it is tiny); the resources table never is.
        let plan = explain(&s, GROUPS_OF, &[Bind::Int(1)]).await;
        assert!(
            plan.iter().all(|l| !l.starts_with("SCAN r")),
            "groups of a user: {plan:?}"
        );
        let plan = explain(
            &s,
            &user_with_groups_sql(),
            &[Bind::Int(1), Bind::Text("x".into())],
        )
        .await;
        assert!(
            plan.iter()
                .all(|l| !l.starts_with("SCAN r") && !l.starts_with("SCAN g")),
            "a user with its groups: {plan:?}"
        );
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
