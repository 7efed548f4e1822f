//! The SQLite backend: the embedded default.
//!
//! SQLite is a library, not a server: a statement on a cached prepared statement costs a few
//! microseconds. So the backend calls it directly on the calling task's thread (rusqlite), with
//! no worker thread and no channel per connection: a hand-off between threads costs more than
//! the statements of a GET (measured with sqlx's thread-per-connection driver: half of the
//! server's CPU went to waking threads). Every call is bounded by an index lookup except a list
//! that SQL cannot narrow; those run on tokio's blocking pool instead (see [`SqliteStore::list`]).
//!
//! Writes are the exception: one thread owns the writer connection and runs every write, in
//! batches that share a commit (see [`writer`]). Its transactions are `BEGIN IMMEDIATE`, so a
//! write takes the database lock up front and a concurrent writer in another process, such as
//! `scimsync token create`, waits on `busy_timeout` instead of failing half-way. Read-only
//! connections, taken from a small pool, serve reads concurrently, which WAL allows without
//! blocking the writer, and a third thread copies the WAL into the database (see
//! [`checkpoints`]). A connection of its own keeps the newest snapshot's WAL read lock held
//! while reads run, so that a reader's lock costs no system call (see [`Anchor`]).
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

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql, params};
use serde_json::Value;
use time::OffsetDateTime;

use crate::doc::{COLS, DocWrite, Indexed, Kinds, RowData, check, from_ms, new_id, taken};
use crate::list::{Conn, Key, Listing};
use crate::plan::{Bind, Dialect};
use crate::{
    Change, ChangeOp, GroupRef, Load, Member, MemberChange, Modify, Page, Precondition, Principal,
    Query, Result, Store, StoreError, Stored, Tenant, TenantId, TokenInfo,
};

pub use crate::Clock;
pub use crate::list::MAX_IN_MEMORY_SORT;

/// The schema, one script per version; a database records the last one applied in
/// `PRAGMA user_version`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_directory.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_feed_without_autoincrement.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_writes_without_statement_journal.sql"),
    ),
];

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The writer's page cache. A batch's changed pages stay in the cache until its commit; when
/// they outgrow it, SQLite writes them to the WAL early (and again at the commit if changed
/// again) and reads evicted pages back. A Bulk batch of about 1,800 users changes some 5,000
/// pages (20 MB) across the random-key indexes, more than the 16 MiB the other connections
/// keep: spilling and reading back were a fifth of the writer's time. The price: at each commit
/// SQLite walks the cache's whole hash table (`pcache1TruncateUnsafe`), about 80,000
/// instructions at this size (callgrind), some 5,000 per write in a batch of 16.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Prepared statements kept per connection: every statement of the hot paths stays prepared.
const STATEMENT_CACHE: usize = 128;

/// Tuning of the SQLite backend.
#[derive(Clone)]
pub struct SqliteOptions {
    /// `synchronous=FULL`: survive power loss too, at one fsync per write (see the module docs).
    pub synchronous_full: bool,
    /// Idle read-only connections kept open for lookups, as many again for lists that may read
    /// many rows (anything but an indexed lookup), and such lists running at once. A lookup
    /// never waits for a connection: one is opened when none is idle, and kept if fewer than
    /// this many are.
    pub readers: u32,
    pub clock: Clock,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: false,
            readers: 8,
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
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    synchronous_full: bool,
    /// Feeds the writer thread (see [`writer`]).
    jobs: std::sync::mpsc::Sender<Job>,
    /// Keeps the WAL read lock of the newest snapshot held (see [`Anchor`]).
    anchor: Arc<Anchor>,
    /// Idle read-only connections for lookups, and for lists that may read many rows: apart, so
    /// that a list's rows do not push the lookups' index pages out of their page caches.
    idle_readers: Mutex<Vec<Connection>>,
    idle_scanners: Mutex<Vec<Connection>>,
    max_idle_readers: usize,
    kinds: Kinds,
    clock: Clock,
    /// Bumped after each commit that appended to the change feed.
    feed: tokio::sync::watch::Sender<u64>,
    /// Lists running on the blocking pool at once. Each holds a reader connection, and each
    /// connection its own page cache (16 MiB): 32 clients paging at once held 32 of them and
    /// the server's memory tripled.
    heavy_reads: tokio::sync::Semaphore,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Bind::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Bind::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// Opens one connection with the settings every connection shares. A file name, not a URL: a
/// path with `?` or `#` in it is still just a path.
///
/// `foreign_keys` is off: with it on, SQLite checks each key at the end of the statement that
/// stores it and so gives every write a statement journal. What the declarations did is done by
/// the write paths and the delete trigger instead (see migration 0003).
///
/// No connection maps the file (`mmap_size` stays 0). At the start of every read transaction
/// after another connection's commit, SQLite unmaps the whole file and maps it again on the next
/// page it needs; with writes going on, every lookup paid an `munmap`, whose TLB shootdown
/// interrupts the other core, and page faults for each page it touched. Measured with lookups
/// and a light stream of PATCHes side by side (about 2,000/s from one connection), GET made
/// 36,000-42,000/s at 29-38 µs of CPU each with mapped readers and 47,000-49,000/s at 25 µs
/// without; lookups alone were the same either way (interleaved runs, 100,000 and 1,000,000
/// users), as a reader's page cache survives between transactions when nothing was written.
fn connect(path: &Path, read_only: bool, synchronous_full: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA synchronous = {}; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -16384;",
        if synchronous_full { "FULL" } else { "NORMAL" }
    ))?;
    Ok(conn)
}

/// Brings the schema up to date in one transaction, refusing a database a newer build wrote.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == 0 {
        // Databases written before the backend moved to rusqlite recorded their migrations in
        // sqlx's table; its version numbers are the script numbers.
        let sqlx_table: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
            [],
            |r| r.get(0),
        )?;
        if sqlx_table {
            version = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
                [],
                |r| r.get(0),
            )?;
        }
    }
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if version > latest {
        return Err(StoreError::Migration(format!(
            "the database has schema version {version}, which this build does not know (it \
             knows up to {latest}): it was written by a newer scimsync; run that version or newer"
        )));
    }
    for (v, script) in MIGRATIONS {
        if *v > version {
            tx.execute_batch(script).map_err(|e| {
                StoreError::Migration(format!("migrating the database to version {v} failed: {e}"))
            })?;
        }
    }
    tx.pragma_update(None, "user_version", latest)?;
    tx.commit()?;
    Ok(())
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
        let path = PathBuf::from(path);
        let mut conn = connect(&path, false, options.synchronous_full)?;
        // WAL is a property of the file: set once, kept by every later connection. The writer
        // lives as long as the store, so the WAL's shared-memory file does too, which read-only
        // connections cannot create themselves.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "{} cannot use write-ahead logging (journal mode stayed {mode})",
                path.display()
            )));
        }
        migrate(&mut conn)?;
        // The checkpoint thread moves the WAL into the database; the writer does it itself only
        // if the WAL grows past the backstop (see `checkpoints`).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        let anchor = Arc::new(Anchor::new(connect(&path, true, false)?));
        let jobs = writer(
            conn,
            checkpoints(
                connect(&path, false, options.synchronous_full)?,
                Arc::clone(&anchor),
            )?,
            Arc::clone(&anchor),
        )?;
        let first_reader = connect(&path, true, options.synchronous_full)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                synchronous_full: options.synchronous_full,
                jobs,
                anchor,
                idle_readers: Mutex::new(vec![first_reader]),
                idle_scanners: Mutex::new(Vec::new()),
                max_idle_readers: options.readers.max(1) as usize,
                kinds: Kinds(registry),
                clock: options.clock,
                feed: tokio::sync::watch::Sender::new(0),
                heavy_reads: tokio::sync::Semaphore::new(options.readers.max(1) as usize),
                path,
            }),
        })
    }
}

/// WAL pages past which the writer checkpoints itself after a commit. The checkpoint thread
/// normally keeps the WAL far below this; under writes without pause its passive checkpoints
/// never find the log fully copied (the writer appends meanwhile), so the log could not restart
/// from its beginning and would grow. The writer's own checkpoint, with the write lock held,
/// completes and lets it restart; most of its pages are already copied by then.
///
/// Every such checkpoint holds up all writes for its copying and two `fsync`s (50-70 ms here,
/// the p99 of create). 32,768 pages (128 MiB) let the writer run into it less often than
/// 16,384 did: in interleaved runs create's p99 fell from 53-58 to 9-13 ms and Bulk went from
/// 20,000-20,900 to 21,000-23,300 users/s. (An earlier trial of a larger backstop, when the
/// writer's cache was 16 MiB, had cost creates CPU.) The WAL file then keeps its high-water
/// mark, about 150-200 MB after minutes of creates or Bulk.
const WAL_BACKSTOP_PAGES: i64 = 32_768;

/// How long the checkpoint thread lets commits accumulate before copying them into the
/// database: a page rewritten by many commits meanwhile (index tails, the counts, the change
/// feed) is copied once.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(100);

/// How often the checkpoint thread renews the [`Anchor`], or lets it go when no read used it
/// since the last time.
const ANCHOR_RENEWAL: Duration = Duration::from_millis(200);

/// A read transaction held open on a connection of its own, so that the process always holds
/// the WAL-index read lock that readers of the newest snapshot take.
///
/// SQLite counts a shared lock once per process: the first connection to take a WAL read lock
/// calls `fcntl`, the others only count, and the last to let go calls `fcntl` again. Two tokio
/// workers serving lookups one at a time each made that first-and-last pair on almost every
/// request, a tenth of a lookup's CPU. With the anchor holding the lock, a reader's lock and
/// unlock are counter updates.
///
/// The anchor pins a snapshot, which must not hold up the WAL:
/// * the writer thread lets it go before each write transaction, so the WAL can start again
///   from its beginning once checkpointed, and takes it again after the commit, on the snapshot
///   that commit made, so a checkpoint can copy every frame;
/// * the checkpoint thread renews it every [`ANCHOR_RENEWAL`], so another process's writes are
///   never kept from being checkpointed for longer, and lets it go when no read used it
///   meanwhile, so an idle server pins nothing.
///
/// Readers only ever see their own transactions: the anchor reads nothing but the schema cookie.
struct Anchor {
    conn: Mutex<Connection>,
    /// Set by readers, cleared by each renewal: whether holding is worth it.
    used: std::sync::atomic::AtomicBool,
}

impl Anchor {
    fn new(conn: Connection) -> Anchor {
        Anchor {
            conn: Mutex::new(conn),
            used: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Notes that a read ran; one relaxed load on the hot path.
    fn touch(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.used.load(Relaxed) {
            self.used.store(true, Relaxed);
        }
    }

    /// Holds the newest snapshot if reads ran lately. Failing only loses the saving.
    fn hold(&self) {
        if !self.used.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let conn = lock(&self.conn);
        if !conn.is_autocommit() {
            return;
        }
        let begun = conn
            .prepare_cached("BEGIN")
            .and_then(|mut s| s.execute([]))
            .and_then(|_| {
                conn.prepare_cached("PRAGMA schema_version")?
                    .query_row([], |_| Ok(()))
            });
        if let Err(e) = begun {
            tracing::debug!(error = %e, "the WAL read-lock anchor could not be taken");
            release(&conn);
        }
    }

    fn release(&self) {
        release(&lock(&self.conn));
    }

    /// Lets go of an old snapshot, and holds the newest one if reads ran since the last renewal.
    fn renew(&self) {
        let conn = lock(&self.conn);
        release(&conn);
        drop(conn);
        self.hold();
        self.used.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

fn release(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut s| s.execute([]));
    }
}

/// Starts the thread that checkpoints the WAL on its own connection, and returns the channel
/// that wakes it.
///
/// SQLite's default is for the committing connection to checkpoint once the WAL holds 1,000
/// pages, inside the commit: copying the pages and two fsyncs then sat inside the single
/// writer's critical section, and were a fifth of the CPU of a create. A passive checkpoint on
/// another connection blocks neither the writer nor readers. The thread ends with the store,
/// when the channel's sender is dropped.
///
/// It also renews the [`Anchor`].
fn checkpoints(conn: Connection, anchor: Arc<Anchor>) -> Result<std::sync::mpsc::SyncSender<()>> {
    use std::sync::mpsc::RecvTimeoutError;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut renewed = std::time::Instant::now();
            loop {
                match rx.recv_timeout(ANCHOR_RENEWAL) {
                    Ok(()) => {
                        std::thread::sleep(CHECKPOINT_DELAY);
                        while rx.try_recv().is_ok() {}
                        if let Err(e) =
                            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                        {
                            tracing::warn!(error = %e, "WAL checkpoint failed; retried after the next commit");
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if renewed.elapsed() >= ANCHOR_RENEWAL {
                    anchor.renew();
                    renewed = std::time::Instant::now();
                }
            }
            anchor.release();
        })
        .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(tx)
}

/// Writes sharing one transaction at most (see [`writer`]).
///
/// Smaller than the connections a busy client opens, on purpose. A batch's answers go out
/// together at its commit, and while they travel (worker, client, the next request) the writer
/// can only run what is already queued. Taking everything queued (up to 64 before) moved 32
/// connections as one convoy and left the writer idle a third of the time during PATCHes; with
/// 16, one group is written while the other travels. Measured by interleaved runs at 32
/// connections: PATCH 22,500-24,000 → 25,500-28,300/s, create 10,900-11,300 → 11,600-11,900/s,
/// Bulk unchanged (a Bulk request is one write of up to a hundred operations). 8 was no better
/// for PATCH and worse for create.
const MAX_BATCH: usize = 16;

/// A write as the writer thread runs it: given the connection, it writes inside the batch's
/// transaction and says whether it left the transaction unusable (`Some(error)`: the whole batch
/// must be rolled back); given none, the write cannot run (the transaction could not start) and
/// it reports the error. Either way it returns what delivers its outcome to the caller once the
/// batch's commit is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (Option<String>, Deliver) + Send>;
type Deliver = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// How a write is isolated from the others of its batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Under its own savepoint: a failed write is rolled back to it, whatever it wrote.
    Savepoint,
    /// The write detects every failure a caller can cause before it writes, or in the one
    /// single-row statement that writes (`OR FAIL`: SQLite checks all of a row's constraints
    /// before writing any of it), so it needs no savepoint. Inside a
    /// savepoint SQLite copies every page before its first change into a statement journal;
    /// that copying was a tenth of the writer's time for creates. Any other failure (a database
    /// error half-way) rolls back the whole batch.
    None,
}

/// Starts the thread that owns the writer connection and runs every write, and returns the
/// channel that feeds it.
///
/// Group commit: the thread opens a transaction for the first write waiting, runs it, then each
/// write that arrived meanwhile, up to `MAX_BATCH`, and commits once for all. Each write is
/// isolated from the others (see [`Guard`]). One commit then writes each page the batch dirtied
/// once (index tails, the change feed, the counts) instead of once per write. A write is
/// acknowledged only after its batch committed, and a failed commit fails every write of the
/// batch.
///
/// A thread rather than a mutex the request tasks take in turn: a tokio worker waiting for the
/// mutex stalls every connection it serves, and a request cancelled while its batch is open
/// (the client went away) cannot leave the batch uncommitted. A cancelled request's write still
/// runs and commits; only its answer is dropped.
fn writer(
    conn: Connection,
    checkpoint: std::sync::mpsc::SyncSender<()>,
    anchor: Arc<Anchor>,
) -> Result<std::sync::mpsc::Sender<Job>> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                anchor.release();
                if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                    first(None).1(Err(e.to_string()));
                    continue;
                }
                let mut delivers: Vec<Deliver> = Vec::new();
                let mut broken = None;
                let mut next = Some(first);
                while let Some(job) = next.take() {
                    // A panicking write may have written anything: the batch is rolled back. Its
                    // caller, whose answer channel the unwinding dropped, gets an error, and the
                    // thread lives on.
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(Some(&conn))
                    })) {
                        Ok((failed, deliver)) => {
                            delivers.push(deliver);
                            broken = failed;
                        }
                        Err(_) => broken = Some("a write of the same batch failed".into()),
                    }
                    if broken.is_some() {
                        break;
                    }
                    if delivers.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                let outcome = match broken {
                    Some(e) => Err(e),
                    None => conn.execute_batch("COMMIT").map_err(|e| e.to_string()),
                };
                if outcome.is_err() && !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                anchor.hold();
                for deliver in delivers {
                    deliver(outcome.clone());
                }
                // Full means the checkpoint thread is already due to run.
                let _ = checkpoint.try_send(());
            }
        })
        .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
    Ok(tx)
}

/// Runs one write of a batch under `guard`: `Some(error)` when the batch cannot go on.
fn run_guarded<T>(
    conn: &Connection,
    guard: Guard,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> (Option<String>, Result<T>) {
    let statement = |sql: &str| -> std::result::Result<(), String> {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(|e| e.to_string())
    };
    if guard == Guard::None {
        let out = f(conn);
        let broken = match &out {
            Err(e @ (StoreError::Database(_) | StoreError::Migration(_))) => Some(e.to_string()),
            _ => None,
        };
        return (broken, out);
    }
    if let Err(e) = statement("SAVEPOINT w") {
        return (Some(e.clone()), Err(StoreError::Database(e)));
    }
    let out = f(conn);
    let end = if out.is_ok() {
        statement("RELEASE w")
    } else {
        statement("ROLLBACK TO w").and_then(|()| statement("RELEASE w"))
    };
    match end {
        Ok(()) => (None, out),
        // A savepoint that cannot be ended leaves the batch untrustworthy.
        Err(e) => (Some(e.clone()), Err(StoreError::Database(e))),
    }
}

/// A read-only connection, back to the idle list when dropped.
struct Reader {
    inner: Arc<Inner>,
    conn: Option<Connection>,
    scanner: bool,
}

impl Deref for Reader {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a reader holds its connection until dropped")
    }
}

impl DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A connection left inside a read transaction (a list that failed half-way) would pin
        // an old snapshot; it is closed instead of reused.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = lock(if self.scanner {
            &self.inner.idle_scanners
        } else {
            &self.inner.idle_readers
        });
        if idle.len() < self.inner.max_idle_readers {
            idle.push(conn);
        }
    }
}

/// A mutex whose holder panicked still guards a usable value: every user of these checks the
/// connection's state (an open transaction is rolled back) before using it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    /// A reader for lookups.
    fn reader(self: &Arc<Self>) -> Result<Reader> {
        self.reader_from(false)
    }

    /// A reader for a list that may read many rows.
    fn scanner(self: &Arc<Self>) -> Result<Reader> {
        self.reader_from(true)
    }

    fn reader_from(self: &Arc<Self>, scanner: bool) -> Result<Reader> {
        let pool = if scanner {
            &self.idle_scanners
        } else {
            &self.idle_readers
        };
        self.anchor.touch();
        let idle = lock(pool).pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.path, true, self.synchronous_full)?,
        };
        Ok(Reader {
            inner: Arc::clone(self),
            conn: Some(conn),
            scanner,
        })
    }

    /// Runs `f` as one atomic write on the writer thread (see [`writer`]): its changes are
    /// kept when it returns `Ok`, undone otherwise, and the call returns once they are
    /// committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.write_as(Guard::Savepoint, f).await
    }

    async fn write_as<T, F>(&self, guard: Guard, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let (broken, out) = match conn {
                Some(conn) => run_guarded(conn, guard, f),
                None => (
                    None,
                    Err(StoreError::Database(
                        "the write transaction did not start".into(),
                    )),
                ),
            };
            let deliver: Deliver = Box::new(move |committed| {
                let _ = tx.send(committed.map_err(StoreError::Database).and(out));
            });
            (broken, deliver)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Database("the writer thread has stopped".into()))?;
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::Database(
                "the write failed inside the writer thread (it panicked); nothing was written"
                    .into(),
            ))
        })
    }

    fn changed(&self) {
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn now_ms(&self) -> i64 {
        let ns = (self.clock)().unix_timestamp_nanos();
        i64::try_from(ns.div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }
}

// --- rows -----------------------------------------------------------------------------------

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RowData> {
    Ok(RowData {
        pk: row.get(0)?,
        kind: row.get(1)?,
        id: row.get(2)?,
        version: row.get(3)?,
        created: row.get(4)?,
        last_modified: row.get(5)?,
        doc: row.get(6)?,
    })
}

/// The uniqueness error when `e` is the name index refusing a duplicate; `e` otherwise.
fn write_error(e: rusqlite::Error, kind: &str, ix: &Indexed) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, Some(message)) = &e
        && code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        && message.contains("name_lc")
    {
        return taken(kind, ix);
    }
    e.into()
}

// --- shared queries -------------------------------------------------------------------------

static FETCH_ROW: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {COLS} FROM resources r WHERE r.tenant = ? AND r.kind = ? AND r.id = ?")
});

fn fetch_row(conn: &Connection, tenant: TenantId, kind: &str, id: &str) -> Result<Option<RowData>> {
    Ok(conn
        .prepare_cached(&FETCH_ROW)?
        .query_row(params![tenant.0, kind, id], read_row)
        .optional()?)
}

const MEMBERS_OF: &str = "SELECT r.id, r.kind, r.display FROM members m \
     JOIN resources r ON r.pk = m.member_pk WHERE m.group_pk = ? ORDER BY m.member_pk";

fn load_members(conn: &Connection, group: i64) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare_cached(MEMBERS_OF)?;
    let rows = stmt.query_map([group], |r| {
        Ok(Member {
            value: r.get(0)?,
            kind: r.get(1)?,
            display: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The groups of each of `members`: direct ones, and the groups those are in, transitively
/// (`groups.type` `direct` wins when a group is both). Walked with index probes of the
/// `members_by_member` index from Rust rather than a recursive CTE: a user in no group, the
/// common case, costs one probe, where the CTE's temporary tables cost more than the rest of a
/// GET (measured: a fifth of a `userName eq` lookup's instructions). Each group's parents are
/// looked up once per call however many members share it, and a group is visited once, so a
/// stored cycle cannot loop.
fn groups_of(conn: &Connection, members: &[i64]) -> Result<HashMap<i64, Vec<GroupRef>>> {
    let mut parents_of = conn.prepare_cached("SELECT group_pk FROM members WHERE member_pk = ?")?;
    let mut parents = |pk: i64| -> Result<Vec<i64>> {
        Ok(parents_of
            .query_map([pk], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    };
    let direct: Vec<(i64, i64)> = if let [member] = members {
        parents(*member)?
            .into_iter()
            .map(|g| (*member, g))
            .collect()
    } else {
        conn.prepare_cached(
            "SELECT m.member_pk, m.group_pk FROM json_each(?) j \
             CROSS JOIN members m ON m.member_pk = j.value",
        )?
        .query_map([json_keys(members)], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut out = HashMap::new();
    if direct.is_empty() {
        return Ok(out);
    }
    // Every group reachable upwards from a direct group, with its parents.
    let mut up: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut todo: Vec<i64> = direct.iter().map(|(_, g)| *g).collect();
    while let Some(g) = todo.pop() {
        if up.contains_key(&g) {
            continue;
        }
        let ps = parents(g)?;
        todo.extend(ps.iter().copied());
        up.insert(g, ps);
    }
    let mut info = conn.prepare_cached("SELECT id, display FROM resources WHERE pk = ?")?;
    let mut names: HashMap<i64, (String, Option<String>)> = HashMap::with_capacity(up.len());
    for g in up.keys() {
        if let Some(name) = info
            .query_row([g], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
        {
            names.insert(*g, name);
        }
    }
    let mut by_member: HashMap<i64, Vec<i64>> = HashMap::new();
    for (m, g) in direct {
        by_member.entry(m).or_default().push(g);
    }
    for (m, firsts) in by_member {
        // pk → direct; ordered by pk, as groups were created.
        let mut reached: std::collections::BTreeMap<i64, bool> =
            firsts.iter().map(|g| (*g, true)).collect();
        let mut todo = firsts;
        while let Some(g) = todo.pop() {
            for p in up.get(&g).into_iter().flatten() {
                if let std::collections::btree_map::Entry::Vacant(e) = reached.entry(*p) {
                    e.insert(false);
                    todo.push(*p);
                }
            }
        }
        let list = reached
            .into_iter()
            .filter_map(|(g, direct)| {
                let (value, display) = names.get(&g)?.clone();
                Some(GroupRef {
                    value,
                    display,
                    direct,
                })
            })
            .collect();
        out.insert(m, list);
    }
    Ok(out)
}

fn load_groups(conn: &Connection, member: i64) -> Result<Vec<GroupRef>> {
    Ok(groups_of(conn, &[member])?
        .remove(&member)
        .unwrap_or_default())
}

/// The members of every group in a page, in one statement.
const MEMBERS_OF_MANY: &str = "SELECT m.group_pk, r.id, r.kind, r.display FROM json_each(?) j \
     CROSS JOIN members m ON m.group_pk = j.value CROSS JOIN resources r ON r.pk = m.member_pk \
     ORDER BY m.group_pk, m.member_pk";

fn load_extras(conn: &Connection, pk: i64, stored: &mut Stored, load: Load) -> Result<()> {
    if load.members && stored.kind == "Group" && stored.members.is_none() {
        stored.members = Some(load_members(conn, pk)?);
    }
    if load.groups && stored.kind == "User" && stored.groups.is_none() {
        stored.groups = Some(load_groups(conn, pk)?);
    }
    Ok(())
}

/// A member id resolved in the tenant: its row key, type and display name.
fn resolve_member(conn: &Connection, tenant: TenantId, id: &str) -> Result<Option<(i64, Member)>> {
    Ok(conn
        .prepare_cached(
            "SELECT pk, kind, display FROM resources \
             WHERE tenant = ? AND kind IN ('User', 'Group') AND id = ?",
        )?
        .query_row(params![tenant.0, id], |r| {
            Ok((
                r.get(0)?,
                Member {
                    value: id.to_owned(),
                    kind: r.get(1)?,
                    display: r.get(2)?,
                },
            ))
        })
        .optional()?)
}

/// Adds one member; false when it already was one. Refuses a group inside itself, directly or
/// through nesting: `User.groups` and sync engines expand memberships transitively, and a cycle
/// would make every group in it a member of itself.
fn add_member(
    conn: &Connection,
    tenant: TenantId,
    group: (i64, &str),
    id: &str,
) -> Result<(bool, Member)> {
    let Some((pk, member)) = resolve_member(conn, tenant, id)? else {
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
        let cycle = conn
            .prepare_cached(
                "WITH RECURSIVE up(pk) AS ( \
                 SELECT ? UNION SELECT m.group_pk FROM members m JOIN up ON m.member_pk = up.pk \
             ) SELECT 1 FROM up WHERE pk = ? LIMIT 1",
            )?
            .query_row(params![group.0, pk], |_| Ok(()))
            .optional()?;
        if cycle.is_some() {
            return Err(StoreError::InvalidMember(format!(
                "group '{id}' already contains group '{}': adding it would make a cycle",
                group.1
            )));
        }
    }
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO members (tenant, group_pk, member_pk) VALUES (?, ?, ?)",
        )?
        .execute(params![tenant.0, group.0, pk])?;
    Ok((added > 0, member))
}

fn insert_emails(
    conn: &Connection,
    tenant: TenantId,
    pk: i64,
    emails: &BTreeSet<String>,
) -> Result<()> {
    if emails.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT OR FAIL INTO emails (tenant, resource, value_lc) VALUES (?, ?, ?)",
    )?;
    for email in emails {
        stmt.execute(params![tenant.0, pk, email])?;
    }
    Ok(())
}

/// A resource to insert, with what the insert needs worked out before it reaches the writer
/// thread, where every microsecond is spent with all writes waiting.
struct NewResource {
    doc: Value,
    ix: Indexed,
    text: String,
}

impl NewResource {
    fn of(kind: &str, doc: Value) -> Result<NewResource> {
        Ok(NewResource {
            ix: Indexed::of(kind, &doc),
            text: serde_json::to_string(&doc)
                .map_err(|e| StoreError::Database(format!("document does not serialise: {e}")))?,
            doc,
        })
    }
}

/// Inserts one new resource inside the caller's write transaction. Members are resolved before
/// anything is written, and the resource row is one statement, so a failed item leaves no trace
/// even without a savepoint. A new group has no parents, so its members cannot close a cycle.
fn insert_resource(
    conn: &Connection,
    tenant: TenantId,
    kind: &str,
    new: NewResource,
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
        match resolve_member(conn, tenant, m)? {
            Some(found) => resolved.push(found),
            None => {
                return Err(StoreError::InvalidMember(format!(
                    "member '{m}' does not exist"
                )));
            }
        }
    }
    let NewResource { doc, ix, text } = new;
    let id = new_id();
    // The change-feed entry and the count come from the insert trigger.
    conn.prepare_cached(
        "INSERT OR FAIL INTO resources (tenant, kind, id, version, external_id, name_lc, \
         display_lc, display, active, created, last_modified, doc) \
         VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        tenant.0,
        kind,
        id,
        ix.external_id,
        ix.name_lc(),
        ix.display_lc,
        ix.name,
        ix.active,
        now,
        now,
        &text
    ])
    .map_err(|e| write_error(e, kind, &ix))?;
    // The row's key; a trigger's inserts do not change it once the trigger has finished.
    let pk = conn.last_insert_rowid();
    insert_emails(conn, tenant, pk, &ix.emails)?;
    if !resolved.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT OR IGNORE INTO members (tenant, group_pk, member_pk) VALUES (?, ?, ?)",
        )?;
        for (member, _) in &resolved {
            stmt.execute(params![tenant.0, pk, member])?;
        }
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
        // The text just written: a response can be made of it without serialising `doc`.
        raw: Some(text),
    })
}

/// Keys as a JSON array, the one parameter of the `json_each` page statements.
fn json_keys(pks: &[i64]) -> String {
    serde_json::to_string(pks).unwrap_or_else(|_| "[]".into())
}

// --- listing ----------------------------------------------------------------------------------

/// The list statements are synchronous calls: the futures [`crate::list`] builds on them finish
/// in one poll.
#[async_trait]
impl Conn for Connection {
    async fn rows(
        &mut self,
        text: &str,
        binds: &[Bind],
        text_key: bool,
    ) -> Result<Vec<(RowData, Key)>> {
        let mut stmt = self.prepare_cached(text)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(binds), |row| {
            let k = if text_key {
                row.get::<_, Option<String>>(7)?
                    .map_or(Key::Null, Key::Text)
            } else {
                row.get::<_, Option<i64>>(7)?.map_or(Key::Null, Key::Int)
            };
            Ok((read_row(row)?, k))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn count(&mut self, text: &str, binds: &[Bind]) -> Result<i64> {
        Ok(self
            .prepare_cached(text)?
            .query_row(rusqlite::params_from_iter(binds), |r| r.get(0))?)
    }

    async fn type_count(&mut self, tenant: TenantId, kind: &str) -> Result<i64> {
        let n: Option<i64> = self
            .prepare_cached("SELECT n FROM resource_counts WHERE tenant = ? AND kind = ?")?
            .query_row(params![tenant.0, kind], |r| r.get(0))
            .optional()?;
        Ok(n.unwrap_or(0))
    }

    async fn fetch_by_pk(&mut self, pks: &[i64]) -> Result<Vec<(i64, Stored)>> {
        static BY_PK: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {COLS} FROM json_each(?) j CROSS JOIN resources r ON r.pk = j.value")
        });
        let mut stmt = self.prepare_cached(&BY_PK)?;
        let mut found = HashMap::with_capacity(pks.len());
        for data in stmt.query_map([json_keys(pks)], read_row)? {
            let data = data?;
            found.insert(data.pk, data);
        }
        pks.iter()
            .filter_map(|pk| found.remove(pk))
            .map(RowData::into_stored)
            .collect()
    }

    async fn load_extras(&mut self, pk: i64, stored: &mut Stored, load: Load) -> Result<()> {
        load_extras(self, pk, stored, load)
    }

    async fn load_page_extras(&mut self, rows: &mut [(i64, Stored)], load: Load) -> Result<()> {
        let want_members = |s: &Stored| load.members && s.kind == "Group" && s.members.is_none();
        let want_groups = |s: &Stored| load.groups && s.kind == "User" && s.groups.is_none();
        let groups: Vec<i64> = rows
            .iter()
            .filter(|(_, s)| want_members(s))
            .map(|(pk, _)| *pk)
            .collect();
        let users: Vec<i64> = rows
            .iter()
            .filter(|(_, s)| want_groups(s))
            .map(|(pk, _)| *pk)
            .collect();
        let mut members: HashMap<i64, Vec<Member>> = HashMap::new();
        if !groups.is_empty() {
            let mut stmt = self.prepare_cached(MEMBERS_OF_MANY)?;
            let found = stmt.query_map([json_keys(&groups)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Member {
                        value: r.get(1)?,
                        kind: r.get(2)?,
                        display: r.get(3)?,
                    },
                ))
            })?;
            for item in found {
                let (group, member) = item?;
                members.entry(group).or_default().push(member);
            }
        }
        let mut of_user = if users.is_empty() {
            HashMap::new()
        } else {
            groups_of(self, &users)?
        };
        for (pk, stored) in rows.iter_mut() {
            if want_members(stored) {
                stored.members = Some(members.remove(pk).unwrap_or_default());
            } else if want_groups(stored) {
                stored.groups = Some(of_user.remove(pk).unwrap_or_default());
            }
        }
        Ok(())
    }
}

/// A list on one reader connection: one statement alone when the query allows it, otherwise
/// every statement inside one read transaction.
async fn list_on(conn: &mut Connection, listing: &Listing<'_>) -> Result<Page> {
    // One read transaction for all the list's statements, even a lookup answered by one: its
    // members' groups take more, and each statement outside a transaction takes and releases
    // the WAL-index locks (`fcntl`) on its own.
    conn.prepare_cached("BEGIN")?.execute([])?;
    let page = match listing.alone(conn).await {
        Ok(Some(page)) => Ok(page),
        Ok(None) => listing.run(conn).await,
        Err(e) => Err(e),
    };
    // Reading only: ending the transaction cannot lose anything, whichever way the list went.
    conn.prepare_cached(if page.is_ok() { "COMMIT" } else { "ROLLBACK" })?
        .execute([])?;
    page
}

/// Whether an index bounds the list's work to a handful of rows whatever the tenant's size: the
/// filter requires one attribute kept in an indexed column to equal a value (`userName eq`,
/// `externalId eq`, `emails.value eq`, `id eq`, `displayName eq`), the lookups provisioning
/// clients make before every write. Such a list runs on the caller's thread; any other may read
/// the whole tenant and goes to the blocking pool.
fn point_lookup(filter: &scim::Filter) -> bool {
    use scim::filter::{CompValue, CompareOp};
    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:";
    let indexed = |path: &scim::AttrPath, within: Option<&str>| {
        let core = path.urn.as_deref().is_none_or(|u| u.starts_with(CORE));
        let name = path.name.to_ascii_lowercase();
        let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
        core && matches!(
            (within, name.as_str(), sub.as_deref()),
            (None, "id" | "username" | "externalid" | "displayname", None)
                | (None, "emails", Some("value"))
                | (Some("emails"), "value", None)
        )
    };
    fn walk(
        f: &scim::Filter,
        within: Option<&str>,
        indexed: &dyn Fn(&scim::AttrPath, Option<&str>) -> bool,
    ) -> bool {
        match f {
            scim::Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } => !matches!(value, CompValue::Null) && indexed(path, within),
            scim::Filter::And(a, b) => walk(a, within, indexed) || walk(b, within, indexed),
            scim::Filter::ValuePath { attr, filter } if within.is_none() && attr.sub.is_none() => {
                walk(filter, Some(&attr.name.to_ascii_lowercase()), indexed)
            }
            _ => false,
        }
    }
    walk(filter, None, &indexed)
}

// --- the trait --------------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_tenant(&self, name: &str) -> Result<(Tenant, bool)> {
        let now = self.inner.now_ms();
        let owned = name.to_owned();
        let (id, created) = self
            .inner
            .write(move |conn| {
                let name = owned.as_str();
                let inserted: Option<i64> = conn
                    .prepare_cached(
                        "INSERT INTO tenants (name, created) VALUES (?, ?) \
                     ON CONFLICT (name) DO NOTHING RETURNING id",
                    )?
                    .query_row(params![name, now], |r| r.get(0))
                    .optional()?;
                Ok(match inserted {
                    Some(id) => (id, true),
                    None => (
                        conn.prepare_cached("SELECT id FROM tenants WHERE name = ?")?
                            .query_row([name], |r| r.get(0))?,
                        false,
                    ),
                })
            })
            .await?;
        Ok((
            Tenant {
                id: TenantId(id),
                name: name.to_owned(),
            },
            created,
        ))
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        let id: Option<i64> = self
            .inner
            .reader()?
            .prepare_cached("SELECT id FROM tenants WHERE name = ?")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        Ok(id.map(|id| Tenant {
            id: TenantId(id),
            name: name.to_owned(),
        }))
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let conn = self.inner.reader()?;
        let mut stmt = conn.prepare_cached("SELECT id, name FROM tenants ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(Tenant {
                id: TenantId(r.get(0)?),
                name: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn create_token(
        &self,
        tenant: TenantId,
        hash: [u8; 32],
        label: Option<&str>,
    ) -> Result<TokenInfo> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let now = self.inner.now_ms();
        let (row_id, row_label) = (id.clone(), label.map(str::to_owned));
        let tenant_name = self
            .inner
            .write(move |conn| {
                let tenant_name: Option<String> = conn
                    .prepare_cached("SELECT name FROM tenants WHERE id = ?")?
                    .query_row([tenant.0], |r| r.get(0))
                    .optional()?;
                let Some(tenant_name) = tenant_name else {
                    return Err(StoreError::Database(format!(
                        "tenant {} does not exist",
                        tenant.0
                    )));
                };
                conn.prepare_cached(
                    "INSERT INTO tokens (id, tenant, hash, label, created, revoked) \
                 VALUES (?, ?, ?, ?, ?, 0)",
                )?
                .execute(params![row_id, tenant.0, &hash[..], row_label, now])?;
                Ok(tenant_name)
            })
            .await?;
        Ok(TokenInfo {
            id,
            tenant: tenant_name,
            label: label.map(str::to_owned),
            created: from_ms(now)?,
            revoked: false,
        })
    }

    async fn tokens(&self, tenant: Option<TenantId>) -> Result<Vec<TokenInfo>> {
        let conn = self.inner.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT t.id, n.name, t.label, t.created, t.revoked FROM tokens t \
             JOIN tenants n ON n.id = t.tenant WHERE ?1 IS NULL OR t.tenant = ?1 \
             ORDER BY t.created, t.id",
        )?;
        let rows = stmt.query_map([tenant.map(|t| t.0)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        rows.map(|r| {
            let (id, tenant, label, created, revoked) = r?;
            Ok(TokenInfo {
                id,
                tenant,
                label,
                created: from_ms(created)?,
                revoked: revoked != 0,
            })
        })
        .collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        let done = self
            .inner
            .write({
                let id = id.to_owned();
                move |conn| {
                    Ok(conn
                        .prepare_cached("UPDATE tokens SET revoked = 1 WHERE id = ?")?
                        .execute([id])?)
                }
            })
            .await?;
        Ok(done > 0)
    }

    /// Looked up by the hash's index. The lookup's timing can only reveal something about the
    /// SHA-256 of a guess, which does not help find a secret; the caller still compares the
    /// returned hash in constant time. Read on every request, never cached: a revoked token
    /// stops working at the next request.
    async fn authenticate(&self, hash: [u8; 32]) -> Result<Option<Principal>> {
        let row = self
            .inner
            .reader()?
            .prepare_cached("SELECT id, tenant, hash FROM tokens WHERE hash = ? AND revoked = 0")?
            .query_row([&hash[..]], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .optional()?;
        row.map(|(token_id, tenant, stored)| {
            Ok(Principal {
                token_id,
                tenant: TenantId(tenant),
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
        let kind = self.inner.kinds.known_kind(kind)?;
        let new = NewResource::of(&kind, doc)?;
        let now = self.inner.now_ms();
        let stored = self
            .inner
            .write_as(Guard::None, move |conn| {
                insert_resource(conn, tenant, &kind, new, &members, now)
            })
            .await?;
        self.inner.changed();
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
        let kind = self.inner.kinds.known_kind(kind)?;
        let items = items
            .into_iter()
            .map(|(doc, members)| Ok((NewResource::of(&kind, doc)?, members)))
            .collect::<Result<Vec<_>>>()?;
        let inner = Arc::clone(&self.inner);
        let out = self
            .inner
            .write_as(Guard::None, move |conn| {
                let mut out = Vec::with_capacity(items.len());
                let mut errors = 0;
                for (new, members) in items {
                    if max_errors.is_some_and(|max| errors >= max) {
                        break;
                    }
                    let now = inner.now_ms();
                    match insert_resource(conn, tenant, &kind, new, &members, now) {
                        Err(e @ (StoreError::Database(_) | StoreError::Migration(_))) => {
                            return Err(e);
                        }
                        Err(e) => {
                            errors += 1;
                            out.push(Err(e));
                        }
                        Ok(s) => out.push(Ok(s)),
                    }
                }
                Ok(out)
            })
            .await?;
        if out.iter().any(Result::is_ok) {
            self.inner.changed();
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
        let Some(kind) = self.inner.kinds.kind(kind) else {
            return Ok(None);
        };
        // One read transaction for the row and its groups: each statement outside one starts
        // and ends its own, and each start and end is a pair of `fcntl` locks on the WAL index
        // (a tenth of a GET's CPU was those system calls).
        let conn = self.inner.reader()?;
        conn.prepare_cached("BEGIN")?.execute([])?;
        let read = (|| {
            let Some(row) = fetch_row(&conn, tenant, &kind, id)? else {
                return Ok(None);
            };
            let (pk, mut stored) = row.into_stored_as(load.raw)?;
            load_extras(&conn, pk, &mut stored, load)?;
            Ok(Some(stored))
        })();
        conn.prepare_cached("COMMIT")?.execute([])?;
        read
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
        let kind = self.inner.kinds.known_kind(kind)?;
        let now = self.inner.now_ms();
        // `modify_in` isolates the writes that need it (see there).
        let (current, changed) = self
            .inner
            .write_as(Guard::None, {
                let id = id.to_owned();
                move |conn| modify_in(conn, tenant, &kind, &id, precondition, load, &modify, now)
            })
            .await?;
        if changed {
            self.inner.changed();
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
        let kind = self.inner.kinds.known_kind(kind)?;
        let now = self.inner.now_ms();
        let id = id.to_owned();
        self.inner
            .write(move |conn| {
                let Some(row) = fetch_row(conn, tenant, &kind, &id)? else {
                    return Err(StoreError::NotFound {
                        kind: kind.clone(),
                        id,
                    });
                };
                check(precondition, row.version)?;
                // Each group that loses the resource as a member gets a new version (the update
                // trigger records it); the delete trigger then removes memberships in both
                // directions and the email index rows, and records the deletion.
                conn.prepare_cached(
                    "UPDATE resources SET version = version + 1, last_modified = ? \
                 WHERE pk IN (SELECT group_pk FROM members WHERE member_pk = ?)",
                )?
                .execute(params![now, row.pk])?;
                conn.prepare_cached("DELETE FROM resources WHERE pk = ?")?
                    .execute([row.pk])?;
                Ok(())
            })
            .await?;
        self.inner.changed();
        Ok(())
    }

    /// A point lookup (see [`point_lookup`]) runs here; any other list runs on tokio's blocking
    /// pool, so a query that reads a large tenant never holds up the runtime's few threads.
    async fn list(&self, tenant: TenantId, kind: Option<&str>, query: &Query) -> Result<Page> {
        if query.filter.as_ref().is_some_and(point_lookup) {
            let listing = Listing::new(&self.inner.kinds, tenant, kind, query, Dialect::Sqlite)?;
            let mut conn = self.inner.reader()?;
            return list_on(&mut conn, &listing).await;
        }
        let permit = self
            .inner
            .heavy_reads
            .acquire()
            .await
            .map_err(|e| StoreError::Database(format!("the store is closing: {e}")))?;
        let inner = Arc::clone(&self.inner);
        let kind = kind.map(str::to_owned);
        let query = query.clone();
        let page = tokio::task::spawn_blocking(move || {
            let listing = Listing::new(
                &inner.kinds,
                tenant,
                kind.as_deref(),
                &query,
                Dialect::Sqlite,
            )?;
            let mut conn = inner.scanner()?;
            // The listing's futures never wait (every statement is a synchronous call), so this
            // only drives them to completion on this blocking thread.
            futures::executor::block_on(list_on(&mut conn, &listing))
        })
        .await
        .map_err(|e| StoreError::Database(format!("a list query did not finish: {e}")))?;
        drop(permit);
        page
    }

    async fn changes(&self, tenant: TenantId, after: i64, limit: u32) -> Result<Vec<Change>> {
        let conn = self.inner.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, kind, id, op, version FROM changes WHERE tenant = ? AND seq > ? \
             ORDER BY seq LIMIT ?",
        )?;
        let rows = stmt.query_map(params![tenant.0, after, i64::from(limit)], |r| {
            let op: String = r.get(3)?;
            Ok(Change {
                seq: r.get(0)?,
                tenant,
                kind: r.get(1)?,
                id: r.get(2)?,
                op: match op.as_str() {
                    "create" => ChangeOp::Create,
                    "delete" => ChangeOp::Delete,
                    _ => ChangeOp::Update,
                },
                version: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.feed.subscribe()
    }

    async fn ping(&self) -> Result<()> {
        self.inner
            .reader()?
            .prepare_cached("SELECT 1")?
            .query_row([], |_| Ok(()))?;
        Ok(())
    }
}

/// The read-modify-write of [`Store::modify`] inside the write transaction; the flag says
/// whether anything was written.
#[allow(clippy::too_many_arguments)]
fn modify_in(
    conn: &Connection,
    tenant: TenantId,
    kind: &str,
    id: &str,
    precondition: Precondition,
    load: Load,
    modify: &Modify,
    now: i64,
) -> Result<(Stored, bool)> {
    let not_found = || StoreError::NotFound {
        kind: kind.to_owned(),
        id: id.to_owned(),
    };
    let (pk, mut current) = fetch_row(conn, tenant, kind, id)?
        .map(|row| row.into_stored_as(load.raw))
        .transpose()?
        .ok_or_else(not_found)?;
    check(precondition, current.version)?;
    load_extras(conn, pk, &mut current, load)?;
    let change = modify(&current)?;
    // Nothing is written before this point. Member changes are several statements, any of which
    // can refuse (a member that does not exist) after others wrote: they run under a
    // savepoint. A change of the document alone is one UPDATE, which SQLite undoes by itself
    // when it fails (a taken userName), and the statements after it fail only as database
    // errors, which roll the whole batch back: no savepoint, whose statement journal copied
    // every page the write touched (a tenth of the writer's time for a PATCH).
    if change.members.is_empty() {
        write_change(conn, tenant, kind, (pk, id), current, change, load, now)
    } else {
        run_guarded(conn, Guard::Savepoint, |conn| {
            write_change(conn, tenant, kind, (pk, id), current, change, load, now)
        })
        .1
    }
}

/// The writes of [`modify_in`] once the modification is known.
#[allow(clippy::too_many_arguments)]
fn write_change(
    conn: &Connection,
    tenant: TenantId,
    kind: &str,
    (pk, id): (i64, &str),
    mut current: Stored,
    change: crate::Modification,
    load: Load,
    now: i64,
) -> Result<(Stored, bool)> {
    let new_doc = DocWrite::of(kind, change.doc, &current)?;
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
                    members_changed |= add_member(conn, tenant, (pk, id), m.as_str())?.0;
                }
            }
            MemberChange::Remove(ids) => {
                let mut stmt = conn.prepare_cached(
                    "DELETE FROM members WHERE group_pk = ? AND member_pk = \
                     (SELECT pk FROM resources WHERE tenant = ? \
                      AND kind IN ('User', 'Group') AND id = ?)",
                )?;
                for m in ids {
                    members_changed |= stmt.execute(params![pk, tenant.0, m])? > 0;
                }
            }
            MemberChange::RemoveAll => {
                members_changed |= conn
                    .prepare_cached("DELETE FROM members WHERE group_pk = ?")?
                    .execute([pk])?
                    > 0;
            }
        }
    }
    let changed = new_doc.is_some() || members_changed;
    if changed {
        // One statement writes the document, its indexed columns and the new version; the
        // update trigger appends the change.
        current.version += 1;
        current.last_modified = from_ms(now)?;
        match new_doc {
            Some(DocWrite {
                old,
                new: ix,
                text,
                doc,
            }) => {
                // Only the indexed columns that changed are assigned: SQLite rewrites the
                // entries of every index whose columns an UPDATE names, and a PATCH of `title`
                // then touches one index (`last_modified`) instead of seven.
                let mut sql = String::from(
                    "UPDATE OR FAIL resources SET doc = ?, version = ?, last_modified = ?",
                );
                let mut binds: Vec<Box<dyn ToSql + '_>> =
                    vec![Box::new(&text), Box::new(current.version), Box::new(now)];
                if old.external_id != ix.external_id {
                    sql.push_str(", external_id = ?");
                    binds.push(Box::new(ix.external_id.clone()));
                }
                if old.name != ix.name {
                    sql.push_str(", name_lc = ?, display = ?");
                    binds.push(Box::new(ix.name_lc()));
                    binds.push(Box::new(ix.name.clone()));
                }
                if old.display_lc != ix.display_lc {
                    sql.push_str(", display_lc = ?");
                    binds.push(Box::new(ix.display_lc.clone()));
                }
                if old.active != ix.active {
                    sql.push_str(", active = ?");
                    binds.push(Box::new(ix.active));
                }
                sql.push_str(" WHERE pk = ?");
                binds.push(Box::new(pk));
                conn.prepare_cached(&sql)?
                    .execute(rusqlite::params_from_iter(binds.iter()))
                    .map_err(|e| write_error(e, kind, &ix))?;
                if old.emails != ix.emails {
                    conn.prepare_cached("DELETE FROM emails WHERE resource = ?")?
                        .execute([pk])?;
                    insert_emails(conn, tenant, pk, &ix.emails)?;
                }
                drop(binds);
                // The text just written: the response is made of it, not serialised again.
                current.doc = doc;
                current.raw = Some(text);
            }
            None => {
                conn.prepare_cached(
                    "UPDATE OR FAIL resources SET version = ?, last_modified = ? WHERE pk = ?",
                )?
                .execute(params![current.version, now, pk])?;
            }
        }
    }
    if load.members && kind == "Group" {
        if members_changed || current.members.is_none() {
            current.members = Some(load_members(conn, pk)?);
        }
    } else {
        current.members = None;
    }
    if load.groups && kind == "User" {
        if current.groups.is_none() {
            current.groups = Some(load_groups(conn, pk)?);
        }
    } else {
        current.groups = None;
    }
    Ok((current, changed))
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
        let conn = s.inner.reader().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
        stmt.query_map(rusqlite::params_from_iter(binds), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
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
        let order = s.inner.kinds.order(&kinds, &query).unwrap();
        let base = Base::new(
            TenantId(1),
            &kinds,
            plan.as_ref().and_then(|p| p.condition.as_ref()),
            plan.as_ref().and_then(|p| p.join),
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
            &FETCH_ROW,
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
        // The address lookup reads the address index in key order and each row by its key:
        // no temporary table of keys, no sort, on the first page or after a cursor.
        for cursor in [false, true] {
            let f = r#"emails.value eq "a@b.c""#;
            let plan = list_plan(&s, f, None, cursor).await;
            assert_streams(&plan, f);
            assert!(
                plan.iter().all(|l| !l.contains("SUBQUERY")) && plan.len() == 2,
                "{f}: {plan:?}"
            );
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
        let plan = explain(&s, MEMBERS_OF, &[Bind::Int(1)]).await;
        assert_searches(&plan, "members of a group");
        let plan = explain(
            &s,
            "SELECT group_pk FROM members WHERE member_pk = ?",
            &[Bind::Int(1)],
        )
        .await;
        assert_searches(&plan, "groups of a member");
        // A page's groups and members: the key list is scanned, the tables never are.
        for text in [
            MEMBERS_OF_MANY,
            "SELECT m.member_pk, m.group_pk FROM json_each(?) j \
             CROSS JOIN members m ON m.member_pk = j.value",
        ] {
            let plan = explain(&s, text, &[Bind::Text("[1,2,3]".into())]).await;
            assert!(
                plan.iter()
                    .all(|l| !l.starts_with("SCAN r") && !l.starts_with("SCAN m")),
                "{text}: {plan:?}"
            );
        }
    }

    /// Reads as a busy server does until `done` holds; false if it did not within 10 s.
    async fn read_until(s: &SqliteStore, mut done: impl FnMut() -> bool) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            s.ping().await.unwrap();
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    /// Mapped readers unmap and map the whole file again after every commit (see [`connect`]).
    #[tokio::test]
    async fn no_reader_maps_the_file() {
        let (s, _dir) = store().await;
        for reader in [s.inner.reader().unwrap(), s.inner.scanner().unwrap()] {
            let mapped: i64 = reader
                .pragma_query_value(None, "mmap_size", |r| r.get(0))
                .unwrap();
            assert_eq!(mapped, 0);
        }
    }

    #[tokio::test]
    async fn the_read_lock_anchor_follows_other_writers_and_lets_go_when_idle() {
        let (s, dir) = store().await;
        let anchored = || !lock(&s.inner.anchor.conn).is_autocommit();
        // Another process's connection, which must never wait on this one for long.
        let other = Connection::open(dir.path().join("p.db")).unwrap();
        let checkpoint = |mode: &str| -> (i64, i64, i64) {
            other
                .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .unwrap()
        };
        assert!(!anchored(), "nothing read yet");
        assert!(
            read_until(&s, anchored).await,
            "reads keep the read lock held"
        );

        // A write the store did not make: while reads go on, the anchor moves past it within a
        // renewal, so a checkpoint copies every frame.
        other
            .execute(
                "INSERT INTO tenants (name, created) VALUES ('other', 0)",
                [],
            )
            .unwrap();
        let all_copied = || {
            let (busy, log, copied) = checkpoint("PASSIVE");
            busy == 0 && copied == log
        };
        assert!(
            read_until(&s, all_copied).await,
            "the anchor held back the checkpoint"
        );
        assert!(anchored(), "reads still keep the read lock held");

        // Idle: the anchor lets go within two renewals, and the WAL can be emptied.
        let start = std::time::Instant::now();
        while anchored() && start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(ANCHOR_RENEWAL / 4).await;
        }
        assert!(!anchored(), "an idle store holds no read lock");
        assert_eq!(
            checkpoint("TRUNCATE").0,
            0,
            "an idle store kept the WAL busy"
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
