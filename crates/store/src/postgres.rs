//! The PostgreSQL backend: several stateless `scimsync serve` replicas on one database.
//!
//! Everything a caller can observe is what the SQLite backend does (one conformance suite runs
//! against both); this module is about what changes when the writers are many processes instead
//! of one connection.
//!
//! * Read-modify-write: [`Store::modify`] and [`Store::delete`] lock the resource's row
//!   (`SELECT … FOR NO KEY UPDATE`) before they read its version, so two replicas applying a
//!   PATCH with the same `If-Match` serialise on the row: the second reads the first's version
//!   once the first commits and fails its precondition. `NO KEY UPDATE` rather than `UPDATE`:
//!   adding a member takes a `KEY SHARE` lock on the member's row (the foreign key), which
//!   must not wait on an unrelated PATCH of that member.
//! * Uniqueness: the unique index on the folded name decides, across replicas; an insert uses
//!   `ON CONFLICT DO NOTHING`, which waits for a concurrent insert of the same name to commit and
//!   then reports the conflict without aborting the transaction (so a batch goes on).
//! * Group nesting: refusing a cycle reads other groups' memberships, which row locks do not
//!   cover (two replicas could each add one half of a cycle). Adding a group as a member takes a
//!   transaction-level advisory lock per tenant first, so those checks run one at a time.
//! * Change feed: gap-free per-tenant sequence numbers in commit order, from a counter row taken
//!   as the transaction's last statement (the migration explains why not a SEQUENCE). That same
//!   statement moves the per-type counts and sends `NOTIFY`, which PostgreSQL delivers on commit
//!   to every replica's listener: [`Store::subscribe_changes`] wakes on writes made anywhere.
//! * Lists that take several statements run them in one `REPEATABLE READ READ ONLY`
//!   transaction, the snapshot the SQLite backend gets from its read transaction.
//! * Connection settings: the URL carries host, database, credentials and TLS (`sslmode=
//!   disable|prefer|require|verify-ca|verify-full`, `sslrootcert=…`; rustls); the pool size and
//!   a per-statement timeout are [`PostgresOptions`]. The change listener holds one more
//!   connection of its own.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Row};
use time::OffsetDateTime;

use crate::doc::{COLS, Indexed, Kinds, RowData, check, from_ms, new_id, write_error};
use crate::list::{Conn, Key, Listing};
use crate::plan::{Bind, Dialect};
use crate::{
    Change, ChangeOp, Clock, GroupRef, Load, Member, MemberChange, Modify, NewDoc, Page,
    Precondition, Principal, Query, Result, Store, StoreError, Stored, Tenant, TenantId, TokenInfo,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The `NOTIFY` channel of change-feed wake-ups; the payload is the tenant id.
const CHANNEL: &str = "scimsync_changes";

/// First key of the advisory lock that serialises group-nesting changes within a tenant.
const NESTING_LOCK: i32 = 0x5c1d_0001;

/// Tuning of the PostgreSQL backend.
#[derive(Clone)]
pub struct PostgresOptions {
    /// Connections in the pool that serves requests. Each replica holds up to this many, so
    /// replicas × pool size must stay under the server's `max_connections`.
    pub pool_size: u32,
    /// Longest a single statement may run before the server cancels it; `None` keeps the
    /// server's setting.
    pub statement_timeout: Option<Duration>,
    pub clock: Clock,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 10,
            statement_timeout: Some(Duration::from_secs(30)),
            clock: Arc::new(OffsetDateTime::now_utc),
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

/// The directory stored in a PostgreSQL database, shared by any number of replicas.
pub struct PostgresStore {
    pool: PgPool,
    kinds: Kinds,
    clock: Clock,
    /// Bumped after each local commit that appended to the feed, and on each notification.
    feed: Arc<tokio::sync::watch::Sender<u64>>,
    listener: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to the database `url` names and migrates it.
    pub async fn open(url: &str, registry: Arc<scim::Registry>) -> Result<PostgresStore> {
        PostgresStore::open_with(url, registry, PostgresOptions::default()).await
    }

    /// [`PostgresStore::open`] with explicit pool size, statement timeout and clock.
    pub async fn open_with(
        url: &str,
        registry: Arc<scim::Registry>,
        options: PostgresOptions,
    ) -> Result<PostgresStore> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?
            .disable_statement_logging();
        if let Some(t) = options.statement_timeout {
            connect = connect.options([("statement_timeout", format!("{}", t.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect.clone())
            .await?;
        // Every replica runs this at start: sqlx holds a session advisory lock (keyed by the
        // database name) around the whole run, so concurrent starts apply each migration once.
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Migration(format!(
                "the database has schema migration {v}, which this build does not know: it was \
                 written by a newer scimsync; run that version or newer"
            )),
            e => StoreError::Migration(format!("migrating the database failed: {e}")),
        })?;
        // The listener gets a pool of its own so it never takes a request's connection.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(connect)
            .await?;
        let mut listener = PgListener::connect_with(&listen_pool).await?;
        listener.listen(CHANNEL).await?;
        let feed = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let listener = tokio::spawn(listen(listener, feed.clone()));
        Ok(PostgresStore {
            pool,
            kinds: Kinds(registry),
            clock: options.clock,
            feed,
            listener,
        })
    }

    fn changed(&self) {
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn now_ms(&self) -> i64 {
        let ns = (self.clock)().unix_timestamp_nanos();
        i64::try_from(ns.div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// Wakes local consumers on every notification. After a lost connection the listener
/// reconnects and re-subscribes; notifications sent meanwhile are lost, so it wakes consumers
/// once more, and they re-read from their watermark.
async fn listen(mut listener: PgListener, feed: Arc<tokio::sync::watch::Sender<u64>>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::warn!("change-feed listener reconnected"),
            Err(e) => {
                tracing::warn!(error = %e, "change-feed listener failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        feed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

// --- SQL helpers ------------------------------------------------------------------------------

/// Numbers the `?` placeholders of shared SQL (planner, listing) as PostgreSQL's `$1, $2, …`,
/// leaving quoted literals alone.
fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut n = 0;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_all<'q>(mut q: PgQuery<'q>, binds: &'q [Bind]) -> PgQuery<'q> {
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(*i),
            Bind::Text(s) => q.bind(s.as_str()),
        };
    }
    q
}

fn read_row(row: &PgRow) -> Result<RowData> {
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

fn active(a: Option<bool>) -> Option<i16> {
    a.map(i16::from)
}

/// A member removed by a concurrent delete between the lookup and the insert: the foreign key
/// refuses the membership row.
fn member_error(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error()
        && db.is_foreign_key_violation()
    {
        return StoreError::InvalidMember("a member was deleted while being added".into());
    }
    e.into()
}

/// One change-feed entry before it has its sequence number.
struct Entry {
    kind: String,
    id: String,
    op: &'static str,
    version: i64,
}

/// What a write transaction appends to the feed and adds to the per-type counts.
#[derive(Default)]
struct Effects {
    entries: Vec<Entry>,
    counts: Vec<(String, i64)>,
}

impl Effects {
    fn count(&mut self, kind: &str, delta: i64) {
        match self.counts.iter_mut().find(|(k, _)| k == kind) {
            Some((_, n)) => *n += delta,
            None => self.counts.push((kind.to_owned(), delta)),
        }
    }
}

/// The write transaction's last statement: numbers and appends the feed entries, moves the
/// counts and queues the wake-up (sent by PostgreSQL at commit). The feed head row is taken
/// first (the counts read from it), so every writer takes the per-tenant locks in one order.
async fn finish(
    conn: &mut PgConnection,
    tenant: TenantId,
    effects: Effects,
    now: i64,
) -> Result<()> {
    if effects.entries.is_empty() {
        return Ok(());
    }
    let n = effects.entries.len() as i64;
    let (mut kinds, mut ids, mut ops, mut versions) = (vec![], vec![], vec![], vec![]);
    for e in effects.entries {
        kinds.push(e.kind);
        ids.push(e.id);
        ops.push(e.op);
        versions.push(e.version);
    }
    let (count_kinds, deltas): (Vec<String>, Vec<i64>) =
        effects.counts.into_iter().filter(|(_, d)| *d != 0).unzip();
    sqlx::query(
        "WITH head AS ( \
             INSERT INTO feed_heads (tenant, seq) VALUES ($1, $2) \
             ON CONFLICT (tenant) DO UPDATE SET seq = feed_heads.seq + EXCLUDED.seq \
             RETURNING seq \
         ), counted AS ( \
             INSERT INTO resource_counts (tenant, kind, n) \
             SELECT $1, c.kind, c.delta FROM head, unnest($8::text[], $9::int8[]) AS c(kind, delta) \
             ON CONFLICT (tenant, kind) DO UPDATE SET n = resource_counts.n + EXCLUDED.n \
         ), woken AS ( \
             SELECT pg_notify($10, $1::text) AS done \
         ) \
         INSERT INTO changes (tenant, seq, kind, id, op, version, at) \
         SELECT $1, head.seq - $2 + e.ord, e.kind, e.id, e.op, e.version, $7 \
         FROM head, woken, unnest($3::text[], $4::text[], $5::text[], $6::int8[]) \
              WITH ORDINALITY AS e(kind, id, op, version, ord)",
    )
    .bind(tenant.0)
    .bind(n)
    .bind(kinds)
    .bind(ids)
    .bind(ops)
    .bind(versions)
    .bind(now)
    .bind(count_kinds)
    .bind(deltas)
    .bind(CHANNEL)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// --- shared queries -------------------------------------------------------------------------

/// A resource row; `lock` takes the row lock that serialises writers of this resource.
async fn fetch_row(
    conn: &mut PgConnection,
    tenant: TenantId,
    kind: &str,
    id: &str,
    lock: bool,
) -> Result<Option<RowData>> {
    let lock = if lock { " FOR NO KEY UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {COLS} FROM resources r WHERE r.tenant = $1 AND r.kind = $2 AND r.id = $3{lock}"
    ))
    .bind(tenant.0)
    .bind(kind)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(read_row).transpose()
}

async fn load_members(conn: &mut PgConnection, group: i64) -> Result<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT r.id, r.kind, r.display FROM members m JOIN resources r ON r.pk = m.member_pk \
         WHERE m.group_pk = $1 ORDER BY m.member_pk",
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

/// The recursive walk up the membership table from `member_pk = $1`: direct groups, and the
/// groups those are in. `UNION` keeps it finite even if a cycle were ever stored.
const UP: &str = "WITH RECURSIVE up(pk, direct) AS ( \
                      SELECT group_pk, TRUE FROM members WHERE member_pk = {m} \
                      UNION \
                      SELECT m.group_pk, FALSE FROM members m JOIN up ON m.member_pk = up.pk \
                  )";

async fn load_groups(conn: &mut PgConnection, member: i64) -> Result<Vec<GroupRef>> {
    let rows = sqlx::query(&format!(
        "{} SELECT r.id, r.display, bool_or(up.direct) FROM up JOIN resources r ON r.pk = up.pk \
         GROUP BY r.pk ORDER BY r.pk",
        UP.replace("{m}", "$1")
    ))
    .bind(member)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(GroupRef {
                value: r.try_get(0)?,
                display: r.try_get(1)?,
                direct: r.try_get(2)?,
            })
        })
        .collect()
}

/// A user and its groups in one statement, as on SQLite: `GET /Users/{id}` returns `groups` by
/// default. The groups come back as a JSON array of `[pk, id, display, direct]`.
async fn fetch_user_with_groups(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: &str,
) -> Result<Option<(i64, Stored)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS}, ( \
             {} \
             SELECT COALESCE(json_agg(json_build_array(x.pk, g.id, g.display, x.direct) \
                                      ORDER BY x.pk), '[]')::text \
             FROM (SELECT pk, bool_or(direct) AS direct FROM up GROUP BY pk) x \
             JOIN resources g ON g.pk = x.pk \
         ) FROM resources r WHERE r.tenant = $1 AND r.kind = 'User' AND r.id = $2",
        UP.replace("{m}", "r.pk")
    ))
    .bind(tenant.0)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let groups: String = row.try_get(7)?;
    let groups: Vec<(i64, String, Option<String>, bool)> = serde_json::from_str(&groups)
        .map_err(|e| StoreError::Database(format!("groups of {id} did not decode: {e}")))?;
    let (pk, mut stored) = read_row(&row)?.into_stored()?;
    stored.groups = Some(
        groups
            .into_iter()
            .map(|(_, value, display, direct)| GroupRef {
                value,
                display,
                direct,
            })
            .collect(),
    );
    Ok(Some((pk, stored)))
}

async fn load_extras(
    conn: &mut PgConnection,
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
    conn: &mut PgConnection,
    tenant: TenantId,
    id: &str,
) -> Result<Option<(i64, Member)>> {
    let row = sqlx::query(
        "SELECT pk, kind, display FROM resources \
         WHERE tenant = $1 AND kind IN ('User', 'Group') AND id = $2",
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
/// through nesting, after taking the tenant's nesting lock (see the module docs).
async fn add_member(
    conn: &mut PgConnection,
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
        sqlx::query("SELECT pg_advisory_xact_lock($1, ($2 % 2147483647)::int4)")
            .bind(NESTING_LOCK)
            .bind(tenant.0)
            .execute(&mut *conn)
            .await?;
        let cycle = sqlx::query(
            "WITH RECURSIVE up(pk) AS ( \
                 SELECT $1::int8 UNION SELECT m.group_pk FROM members m JOIN up ON m.member_pk = up.pk \
             ) SELECT 1 FROM up WHERE pk = $2 LIMIT 1",
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
    let done = sqlx::query(
        "INSERT INTO members (tenant, group_pk, member_pk) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant.0)
    .bind(group.0)
    .bind(pk)
    .execute(&mut *conn)
    .await
    .map_err(member_error)?;
    Ok((done.rows_affected() > 0, member))
}

async fn insert_emails(
    conn: &mut PgConnection,
    tenant: TenantId,
    pk: i64,
    emails: &std::collections::BTreeSet<String>,
) -> Result<()> {
    if emails.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = emails.iter().map(String::as_str).collect();
    sqlx::query(
        "INSERT INTO emails (tenant, resource, value_lc) SELECT $1, $2, unnest($3::text[])",
    )
    .bind(tenant.0)
    .bind(pk)
    .bind(list)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts one new resource inside the caller's write transaction. Every way an item can fail
/// short of a database failure is detected without aborting the transaction (members first, the
/// name by `ON CONFLICT DO NOTHING`), so a batch goes on past a failed item.
async fn insert_resource(
    conn: &mut PgConnection,
    tenant: TenantId,
    kind: &str,
    doc: Value,
    members: &[String],
    now: i64,
    effects: &mut Effects,
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
    let id = new_id();
    let pk: Option<i64> = sqlx::query_scalar(
        "INSERT INTO resources (tenant, kind, id, version, external_id, name_lc, display_lc, \
         display, active, created, last_modified, doc) \
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $9, $10) \
         ON CONFLICT DO NOTHING RETURNING pk",
    )
    .bind(tenant.0)
    .bind(kind)
    .bind(&id)
    .bind(&ix.external_id)
    .bind(ix.name_lc())
    .bind(&ix.display_lc)
    .bind(&ix.name)
    .bind(active(ix.active))
    .bind(now)
    .bind(&text)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(pk) = pk else {
        return Err(StoreError::Uniqueness(format!(
            "{} '{}' is already taken",
            crate::doc::unique_attr(kind),
            ix.name.as_deref().unwrap_or_default()
        )));
    };
    insert_emails(conn, tenant, pk, &ix.emails).await?;
    if !resolved.is_empty() {
        let pks: Vec<i64> = resolved.iter().map(|(pk, _)| *pk).collect();
        sqlx::query(
            "INSERT INTO members (tenant, group_pk, member_pk) \
             SELECT $1, $2, unnest($3::int8[]) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.0)
        .bind(pk)
        .bind(pks)
        .execute(&mut *conn)
        .await
        .map_err(member_error)?;
    }
    effects.entries.push(Entry {
        kind: kind.to_owned(),
        id: id.clone(),
        op: "create",
        version: 1,
    });
    effects.count(kind, 1);
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
        raw: None,
    })
}

/// Inserts a batch of new resources with one statement per table instead of several per item:
/// a round trip costs more than the row. Each item still succeeds or fails alone and as it
/// would one by one: members are resolved first; a name taken before the batch, or by an
/// earlier item of it, makes `ON CONFLICT DO NOTHING` skip that row, and the rows come back by
/// id. Rows are inserted in item order, so the earlier of two equal names wins, as in a loop.
async fn insert_batch(
    conn: &mut PgConnection,
    tenant: TenantId,
    kind: &str,
    items: Vec<(Value, Vec<String>)>,
    now: i64,
    effects: &mut Effects,
) -> Result<Vec<Result<Stored>>> {
    struct Row {
        id: String,
        ix: Indexed,
        text: String,
        doc: Value,
        members: Vec<(i64, Member)>,
    }
    let mut out: Vec<Option<Result<Stored>>> = Vec::with_capacity(items.len());
    let mut rows: Vec<(usize, Row)> = Vec::with_capacity(items.len());
    'items: for (doc, members) in items {
        if !members.is_empty() && kind != "Group" {
            out.push(Some(Err(StoreError::InvalidMember(format!(
                "a {kind} has no members"
            )))));
            continue;
        }
        let mut resolved: Vec<(i64, Member)> = Vec::with_capacity(members.len());
        for m in &members {
            if resolved.iter().any(|(_, r)| r.value == *m) {
                continue;
            }
            match resolve_member(conn, tenant, m).await? {
                Some(found) => resolved.push(found),
                None => {
                    out.push(Some(Err(StoreError::InvalidMember(format!(
                        "member '{m}' does not exist"
                    )))));
                    continue 'items;
                }
            }
        }
        let ix = Indexed::of(kind, &doc);
        let text = serde_json::to_string(&doc)
            .map_err(|e| StoreError::Database(format!("document does not serialise: {e}")))?;
        rows.push((
            out.len(),
            Row {
                id: new_id(),
                ix,
                text,
                doc,
                members: resolved,
            },
        ));
        out.push(None);
    }
    let mut inserted = std::collections::HashMap::new();
    if !rows.is_empty() {
        let col = |f: &dyn Fn(&Row) -> Option<String>| -> Vec<Option<String>> {
            rows.iter().map(|(_, r)| f(r)).collect()
        };
        let ids = col(&|r| Some(r.id.clone()));
        let external = col(&|r| r.ix.external_id.clone());
        let names = col(&|r| r.ix.name_lc());
        let displays_lc = col(&|r| r.ix.display_lc.clone());
        let displays = col(&|r| r.ix.name.clone());
        let docs = col(&|r| Some(r.text.clone()));
        let actives: Vec<Option<i16>> = rows.iter().map(|(_, r)| active(r.ix.active)).collect();
        let returned = sqlx::query(
            "INSERT INTO resources (tenant, kind, id, version, external_id, name_lc, display_lc,              display, active, created, last_modified, doc)              SELECT $1, $2, u.id, 1, u.external_id, u.name_lc, u.display_lc, u.display,                     u.active, $3, $3, u.doc              FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[],                          $9::int2[], $10::text[])                   WITH ORDINALITY AS u(id, external_id, name_lc, display_lc, display, active,                                        doc, ord)              ORDER BY u.ord              ON CONFLICT DO NOTHING RETURNING id, pk",
        )
        .bind(tenant.0)
        .bind(kind)
        .bind(now)
        .bind(ids)
        .bind(external)
        .bind(names)
        .bind(displays_lc)
        .bind(displays)
        .bind(actives)
        .bind(docs)
        .fetch_all(&mut *conn)
        .await?;
        for r in &returned {
            inserted.insert(r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?);
        }
        let (mut email_pks, mut email_values) = (Vec::new(), Vec::new());
        let (mut group_pks, mut member_pks) = (Vec::new(), Vec::new());
        for (_, r) in &rows {
            if let Some(pk) = inserted.get(&r.id) {
                for e in &r.ix.emails {
                    email_pks.push(*pk);
                    email_values.push(e.as_str());
                }
                for (m, _) in &r.members {
                    group_pks.push(*pk);
                    member_pks.push(*m);
                }
            }
        }
        if !email_pks.is_empty() {
            sqlx::query(
                "INSERT INTO emails (tenant, resource, value_lc)                  SELECT $1, e.pk, e.value FROM unnest($2::int8[], $3::text[]) AS e(pk, value)                  ON CONFLICT DO NOTHING",
            )
            .bind(tenant.0)
            .bind(email_pks)
            .bind(email_values)
            .execute(&mut *conn)
            .await?;
        }
        if !group_pks.is_empty() {
            sqlx::query(
                "INSERT INTO members (tenant, group_pk, member_pk)                  SELECT $1, m.g, m.m FROM unnest($2::int8[], $3::int8[]) AS m(g, m)                  ON CONFLICT DO NOTHING",
            )
            .bind(tenant.0)
            .bind(group_pks)
            .bind(member_pks)
            .execute(&mut *conn)
            .await
            .map_err(member_error)?;
        }
    }
    let at = from_ms(now)?;
    for (i, r) in rows {
        out[i] = Some(if inserted.contains_key(&r.id) {
            effects.entries.push(Entry {
                kind: kind.to_owned(),
                id: r.id.clone(),
                op: "create",
                version: 1,
            });
            effects.count(kind, 1);
            Ok(Stored {
                members: (kind == "Group").then(|| r.members.into_iter().map(|(_, m)| m).collect()),
                groups: (kind == "User").then(Vec::new),
                kind: kind.to_owned(),
                id: r.id,
                version: 1,
                created: at,
                last_modified: at,
                doc: r.doc,
                raw: None,
            })
        } else {
            Err(StoreError::Uniqueness(format!(
                "{} '{}' is already taken",
                crate::doc::unique_attr(kind),
                r.ix.name.as_deref().unwrap_or_default()
            )))
        });
    }
    Ok(out.into_iter().flatten().collect())
}

// --- listing ----------------------------------------------------------------------------------

#[async_trait]
impl Conn for PgConnection {
    async fn rows(
        &mut self,
        text: &str,
        binds: &[Bind],
        text_key: bool,
    ) -> Result<Vec<(RowData, Key)>> {
        let text = numbered(text);
        let rows = bind_all(sqlx::query(&text), binds)
            .fetch_all(&mut *self)
            .await?;
        rows.iter()
            .map(|row| {
                let k = if text_key {
                    row.try_get::<Option<String>, _>(7)?
                        .map_or(Key::Null, Key::Text)
                } else {
                    int_key(row)?.map_or(Key::Null, Key::Int)
                };
                Ok((read_row(row)?, k))
            })
            .collect()
    }

    async fn count(&mut self, text: &str, binds: &[Bind]) -> Result<i64> {
        let text = numbered(text);
        let row = bind_all(sqlx::query(&text), binds)
            .fetch_one(&mut *self)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn type_count(&mut self, tenant: TenantId, kind: &str) -> Result<i64> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT n FROM resource_counts WHERE tenant = $1 AND kind = $2")
                .bind(tenant.0)
                .bind(kind)
                .fetch_optional(&mut *self)
                .await?;
        Ok(n.unwrap_or(0))
    }

    async fn fetch_by_pk(&mut self, pks: &[i64]) -> Result<Vec<(i64, Stored)>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM resources r WHERE r.pk = ANY($1)"
        ))
        .bind(pks)
        .fetch_all(&mut *self)
        .await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let data = read_row(row)?;
            found.insert(data.pk, data);
        }
        pks.iter()
            .filter_map(|pk| found.remove(pk))
            .map(RowData::into_stored)
            .collect()
    }

    async fn load_extras(&mut self, pk: i64, stored: &mut Stored, load: Load) -> Result<()> {
        load_extras(self, pk, stored, load).await
    }

    /// One statement for the members of the page's groups and one for the groups of its users,
    /// instead of one per row.
    async fn load_page_extras(&mut self, rows: &mut [(i64, Stored)], load: Load) -> Result<()> {
        let want = |kind: &str, s: &Stored| match kind {
            "Group" => load.members && s.kind == "Group" && s.members.is_none(),
            _ => load.groups && s.kind == "User" && s.groups.is_none(),
        };
        let groups: Vec<i64> = rows
            .iter()
            .filter(|(_, s)| want("Group", s))
            .map(|(pk, _)| *pk)
            .collect();
        let users: Vec<i64> = rows
            .iter()
            .filter(|(_, s)| want("User", s))
            .map(|(pk, _)| *pk)
            .collect();
        let mut members: HashMap<i64, Vec<Member>> = HashMap::new();
        if !groups.is_empty() {
            let found = sqlx::query(
                "SELECT m.group_pk, r.id, r.kind, r.display FROM members m \
                 JOIN resources r ON r.pk = m.member_pk \
                 WHERE m.group_pk = ANY($1) ORDER BY m.group_pk, m.member_pk",
            )
            .bind(&groups)
            .fetch_all(&mut *self)
            .await?;
            for r in &found {
                members.entry(r.try_get(0)?).or_default().push(Member {
                    value: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    display: r.try_get(3)?,
                });
            }
        }
        let mut of_user: HashMap<i64, Vec<GroupRef>> = HashMap::new();
        if !users.is_empty() {
            let found = sqlx::query(
                "WITH RECURSIVE up(member, pk, direct) AS ( \
                     SELECT member_pk, group_pk, TRUE FROM members WHERE member_pk = ANY($1) \
                     UNION \
                     SELECT up.member, m.group_pk, FALSE FROM members m \
                     JOIN up ON m.member_pk = up.pk \
                 ) \
                 SELECT up.member, r.id, r.display, bool_or(up.direct) \
                 FROM up JOIN resources r ON r.pk = up.pk \
                 GROUP BY up.member, r.pk ORDER BY up.member, r.pk",
            )
            .bind(&users)
            .fetch_all(&mut *self)
            .await?;
            for r in &found {
                of_user.entry(r.try_get(0)?).or_default().push(GroupRef {
                    value: r.try_get(1)?,
                    display: r.try_get(2)?,
                    direct: r.try_get(3)?,
                });
            }
        }
        for (pk, stored) in rows.iter_mut() {
            if want("Group", stored) {
                stored.members = Some(members.remove(pk).unwrap_or_default());
            } else if want("User", stored) {
                stored.groups = Some(of_user.remove(pk).unwrap_or_default());
            }
        }
        Ok(())
    }
}

/// An integer sort key: `active` is SMALLINT, times BIGINT, and the key of an order without
/// one is an untyped NULL.
fn int_key(row: &PgRow) -> Result<Option<i64>> {
    use sqlx::{Column, TypeInfo};
    Ok(match row.column(7).type_info().name() {
        "INT2" => row.try_get::<Option<i16>, _>(7)?.map(i64::from),
        "INT4" => row.try_get::<Option<i32>, _>(7)?.map(i64::from),
        "INT8" => row.try_get::<Option<i64>, _>(7)?,
        _ => None,
    })
}

// --- the trait --------------------------------------------------------------------------------

#[async_trait]
impl Store for PostgresStore {
    async fn ensure_tenant(&self, name: &str) -> Result<(Tenant, bool)> {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO tenants (name, created) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(self.now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let (id, created) = match inserted {
            Some(id) => (id, true),
            None => (
                sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?,
                false,
            ),
        };
        Ok((
            Tenant {
                id: TenantId(id),
                name: name.to_owned(),
            },
            created,
        ))
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(|id| Tenant {
            id: TenantId(id),
            name: name.to_owned(),
        }))
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name FROM tenants ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
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
        let tenant_name: Option<String> = sqlx::query_scalar(
            "WITH t AS (SELECT id, name FROM tenants WHERE id = $1), \
             ins AS (INSERT INTO tokens (id, tenant, hash, label, created) \
                     SELECT $2, t.id, $3, $4, $5 FROM t) \
             SELECT name FROM t",
        )
        .bind(tenant.0)
        .bind(&id)
        .bind(&hash[..])
        .bind(label)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(tenant_name) = tenant_name else {
            return Err(StoreError::Database(format!(
                "tenant {} does not exist",
                tenant.0
            )));
        };
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
             JOIN tenants n ON n.id = t.tenant WHERE $1::int8 IS NULL OR t.tenant = $1 \
             ORDER BY t.created, t.id COLLATE \"C\"",
        )
        .bind(tenant.map(|t| t.0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get(0)?,
                    tenant: r.try_get(1)?,
                    label: r.try_get(2)?,
                    created: from_ms(r.try_get(3)?)?,
                    revoked: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE tokens SET revoked = TRUE WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Looked up by the hash's index; the caller compares the returned hash in constant time.
    async fn authenticate(&self, hash: [u8; 32]) -> Result<Option<Principal>> {
        let row =
            sqlx::query("SELECT id, tenant, hash FROM tokens WHERE hash = $1 AND NOT revoked")
                .bind(&hash[..])
                .fetch_optional(&self.pool)
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
        let now = self.now_ms();
        let mut effects = Effects::default();
        let mut tx = self.write().await?;
        let stored =
            insert_resource(&mut tx, tenant, &kind, doc, &members, now, &mut effects).await?;
        finish(&mut tx, tenant, effects, now).await?;
        tx.commit().await?;
        self.changed();
        Ok(stored)
    }

    /// All items in one transaction and one commit, as on SQLite; items stay independent
    /// because no item's failure aborts the transaction (see `insert_resource`). Without an
    /// error budget the whole batch is a few statements (see `insert_batch`); with one, the
    /// items go one by one, since none may be written after the budget runs out.
    async fn create_many(
        &self,
        tenant: TenantId,
        kind: &str,
        items: Vec<(Value, Vec<String>)>,
        max_errors: Option<usize>,
    ) -> Result<Vec<Result<Stored>>> {
        let kind = self.kinds.known_kind(kind)?;
        let mut effects = Effects::default();
        let mut tx = self.write().await?;
        if max_errors.is_none() {
            let now = self.now_ms();
            let out = insert_batch(&mut tx, tenant, &kind, items, now, &mut effects).await?;
            let any = !effects.entries.is_empty();
            finish(&mut tx, tenant, effects, now).await?;
            tx.commit().await?;
            if any {
                self.changed();
            }
            return Ok(out);
        }
        let mut out = Vec::with_capacity(items.len());
        let mut errors = 0;
        for (doc, members) in items {
            if max_errors.is_some_and(|max| errors >= max) {
                break;
            }
            let now = self.now_ms();
            match insert_resource(&mut tx, tenant, &kind, doc, &members, now, &mut effects).await {
                Err(e @ (StoreError::Database(_) | StoreError::Migration(_))) => return Err(e),
                Err(e) => {
                    errors += 1;
                    out.push(Err(e));
                }
                Ok(s) => out.push(Ok(s)),
            }
        }
        let any = !effects.entries.is_empty();
        finish(&mut tx, tenant, effects, self.now_ms()).await?;
        tx.commit().await?;
        if any {
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
        let mut conn = self.pool.acquire().await?;
        if load.groups && kind == "User" {
            return Ok(fetch_user_with_groups(&mut conn, tenant, id)
                .await?
                .map(|(_, s)| s));
        }
        let Some(row) = fetch_row(&mut conn, tenant, &kind, id, false).await? else {
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
        modify: Modify,
    ) -> Result<Stored> {
        let kind = self.kinds.known_kind(kind)?;
        let mut tx = self.write().await?;
        // The row lock comes first: the version checked below is then the one this write
        // replaces, whichever replica wrote last.
        let Some(row) = fetch_row(&mut tx, tenant, &kind, id, true).await? else {
            return Err(StoreError::NotFound {
                kind,
                id: id.to_owned(),
            });
        };
        let (pk, mut current) = row.into_stored()?;
        check(precondition, current.version)?;
        load_extras(&mut tx, pk, &mut current, load).await?;
        let change = modify(&current)?;

        // This backend hands modifications the parsed document, so they answer with a whole
        // one; a text one is parsed back.
        let new_doc = change
            .doc
            .map(NewDoc::into_whole)
            .transpose()
            .map_err(|e| StoreError::Database(format!("document does not parse: {e}")))?
            .filter(|d| !scim::json_eq(d, &current.doc));
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
                    if !ids.is_empty() {
                        let done = sqlx::query(
                            "DELETE FROM members WHERE group_pk = $1 AND member_pk IN \
                             (SELECT pk FROM resources WHERE tenant = $2 \
                              AND kind IN ('User', 'Group') AND id = ANY($3))",
                        )
                        .bind(pk)
                        .bind(tenant.0)
                        .bind(ids)
                        .execute(&mut *tx)
                        .await?;
                        members_changed |= done.rows_affected() > 0;
                    }
                }
                MemberChange::RemoveAll => {
                    let done = sqlx::query("DELETE FROM members WHERE group_pk = $1")
                        .bind(pk)
                        .execute(&mut *tx)
                        .await?;
                    members_changed |= done.rows_affected() > 0;
                }
            }
        }
        let changed = new_doc.is_some() || members_changed;
        if changed {
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
                        "UPDATE resources SET doc = $1, external_id = $2, name_lc = $3, \
                         display_lc = $4, display = $5, active = $6, version = $7, \
                         last_modified = $8 WHERE pk = $9",
                    )
                    .bind(&text)
                    .bind(&ix.external_id)
                    .bind(ix.name_lc())
                    .bind(&ix.display_lc)
                    .bind(&ix.name)
                    .bind(active(ix.active))
                    .bind(current.version)
                    .bind(now)
                    .bind(pk)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(e, &kind, &ix))?;
                    let old = Indexed::of(&kind, &current.doc);
                    if old.emails != ix.emails {
                        sqlx::query("DELETE FROM emails WHERE resource = $1")
                            .bind(pk)
                            .execute(&mut *tx)
                            .await?;
                        insert_emails(&mut tx, tenant, pk, &ix.emails).await?;
                    }
                    current.doc = doc;
                }
                None => {
                    sqlx::query(
                        "UPDATE resources SET version = $1, last_modified = $2 WHERE pk = $3",
                    )
                    .bind(current.version)
                    .bind(now)
                    .bind(pk)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let effects = Effects {
                entries: vec![Entry {
                    kind: kind.clone(),
                    id: id.to_owned(),
                    op: "update",
                    version: current.version,
                }],
                counts: vec![],
            };
            finish(&mut tx, tenant, effects, now).await?;
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

    /// As on SQLite, each group that loses the resource as a member gets a new version and a
    /// change-feed entry. Those groups are locked in key order, so two deletions touching the
    /// same groups cannot deadlock.
    async fn delete(
        &self,
        tenant: TenantId,
        kind: &str,
        id: &str,
        precondition: Precondition,
    ) -> Result<()> {
        let kind = self.kinds.known_kind(kind)?;
        let mut tx = self.write().await?;
        let Some(row) = fetch_row(&mut tx, tenant, &kind, id, true).await? else {
            return Err(StoreError::NotFound {
                kind,
                id: id.to_owned(),
            });
        };
        check(precondition, row.version)?;
        let now = self.now_ms();
        let groups = sqlx::query(
            "WITH locked AS ( \
                 SELECT pk FROM resources \
                 WHERE pk IN (SELECT group_pk FROM members WHERE member_pk = $2) \
                 ORDER BY pk FOR NO KEY UPDATE \
             ) \
             UPDATE resources r SET version = r.version + 1, last_modified = $1 \
             FROM locked WHERE r.pk = locked.pk RETURNING r.kind, r.id, r.version",
        )
        .bind(now)
        .bind(row.pk)
        .fetch_all(&mut *tx)
        .await?;
        let mut effects = Effects::default();
        for g in &groups {
            effects.entries.push(Entry {
                kind: g.try_get(0)?,
                id: g.try_get(1)?,
                op: "update",
                version: g.try_get(2)?,
            });
        }
        sqlx::query("DELETE FROM resources WHERE pk = $1")
            .bind(row.pk)
            .execute(&mut *tx)
            .await?;
        effects.entries.push(Entry {
            kind: kind.clone(),
            id: id.to_owned(),
            op: "delete",
            version: row.version,
        });
        effects.count(&kind, -1);
        finish(&mut tx, tenant, effects, now).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    async fn list(&self, tenant: TenantId, kind: Option<&str>, query: &Query) -> Result<Page> {
        let listing = Listing::new(&self.kinds, tenant, kind, query, Dialect::Postgres)?;
        {
            let mut conn = self.pool.acquire().await?;
            if let Some(page) = listing.alone(&mut *conn).await? {
                return Ok(page);
            }
        }
        // Several statements (count, page, chunks, memberships) read one snapshot.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let page = listing.run(&mut *tx).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn changes(&self, tenant: TenantId, after: i64, limit: u32) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT seq, kind, id, op, version FROM changes WHERE tenant = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(tenant.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "../tests/support/postgres.rs"]
mod pg;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pooled_connections_carry_the_statement_timeout() {
        let db = pg::TestDb::create().await;
        let options = PostgresOptions {
            statement_timeout: Some(Duration::from_millis(300)),
            ..PostgresOptions::default()
        };
        let s = PostgresStore::open_with(&db.url, Arc::new(scim::Registry::rfc7643()), options)
            .await
            .unwrap();
        let shown: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(shown, "300ms");
        let err = sqlx::query("SELECT pg_sleep(3)")
            .execute(&s.pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("statement timeout"), "{err}");
        // A cancelled statement is a database error, which `/readyz` and the server report.
        assert!(matches!(StoreError::from(err), StoreError::Database(_)));
    }

    #[test]
    fn placeholders_are_numbered_outside_literals() {
        assert_eq!(
            numbered("r.kind IN ('a?', ?) AND x = ? AND y <> ''"),
            "r.kind IN ('a?', $1) AND x = $2 AND y <> ''"
        );
    }
}
