//! Listing, the same on every backend: order, keyset positions, cursors, and the strategies
//! that answer a query (one statement, count + page, streamed evaluation, in-memory sort).
//!
//! * The filter is planned ([`crate::plan`]). An exact plan is answered by SQL alone: a filtered
//!   first page that is not full is its own total (one statement: the usual `userName eq`
//!   lookup); otherwise the backend opens a read transaction and this module runs `COUNT(*)`
//!   (or reads the per-type counts kept in the write transactions when there is no filter) and
//!   fetches only the page.
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
//! The SQL is written once, with `?` placeholders, in the subset both databases share; a
//! backend provides the few statements that differ through [`Conn`]. Text keys compare in code
//! point order on both (SQLite's BINARY collation, PostgreSQL's `COLLATE "C"` columns), which is
//! what [`Order::cmp`] assumes.

use std::cmp::Ordering;

use async_trait::async_trait;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::doc::{COLS, Kinds, RowData, resource_json};
use crate::plan::{self, Bind, Col, Dialect, Sql};
use crate::{Load, Page, Query, Result, SortOrder, StoreError, Stored, TenantId};

/// Most matches a list sorts in memory (by an attribute no column holds). Only their sort keys
/// are held (tens of bytes each), but every candidate's document is read and parsed; beyond this
/// the request fails with `tooMany` rather than letting one query occupy the server.
pub const MAX_IN_MEMORY_SORT: usize = 200_000;

/// Rows fetched per round trip when candidates are finished in memory.
const SCAN_CHUNK: i64 = 256;

/// What listing needs from a backend's connection (or transaction).
#[async_trait]
pub(crate) trait Conn: Send {
    /// Runs an ordered-scan statement built by [`segment_sql`]: the [`COLS`] columns, then the
    /// sort key, read as text when `text_key`, as an integer otherwise.
    async fn rows(
        &mut self,
        text: &str,
        binds: &[Bind],
        text_key: bool,
    ) -> Result<Vec<(RowData, Key)>>;
    /// A statement returning one integer.
    async fn count(&mut self, text: &str, binds: &[Bind]) -> Result<i64>;
    /// The kept count of one type's resources in a tenant.
    async fn type_count(&mut self, tenant: TenantId, kind: &str) -> Result<i64>;
    /// The rows with these keys, in the order given (the ones deleted meanwhile left out).
    async fn fetch_by_pk(&mut self, pks: &[i64]) -> Result<Vec<(i64, Stored)>>;
    /// Members of a group / groups of a user, as `load` asks and the kind has them.
    async fn load_extras(&mut self, pk: i64, stored: &mut Stored, load: Load) -> Result<()>;
    /// [`Conn::load_extras`] for every row of a page. A backend where a statement is a network
    /// round trip answers the whole page in one or two statements.
    async fn load_page_extras(&mut self, rows: &mut [(i64, Stored)], load: Load) -> Result<()> {
        for (pk, stored) in rows.iter_mut() {
            self.load_extras(*pk, stored, load).await?;
        }
        Ok(())
    }
}

// --- listing: order, positions, cursors -------------------------------------------------------

/// How a list is ordered.
#[derive(Debug, Clone)]
pub(crate) enum Order {
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
pub(crate) enum Key {
    Null,
    Int(i64),
    Text(String),
}

/// A row's place in the order: the segment (values first, then missing values), its key, its
/// row key. Cursors carry the position of the last row of a page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Pos {
    pub(crate) s: u8,
    pub(crate) k: Key,
    pub(crate) p: i64,
}

/// The RFC 9865 cursor: a position in a given query's order (keyset pagination, stable under
/// concurrent inserts and deletes), or an offset for in-memory sorts. `f` fingerprints the query
/// so that a cursor is not replayed against another filter or order.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Cursor {
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
    pub(crate) fn segments(&self) -> &'static [u8] {
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
    pub(crate) fn cmp(&self, a: &Pos, b: &Pos) -> Ordering {
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
pub(crate) struct Base {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
    /// What the rows are read from: `resources r`, or a join that reaches them (see
    /// [`plan::Join`]).
    pub(crate) from: &'static str,
    /// The key column to order and page by: `r.pk`, or its equal in the driving table.
    pub(crate) pk: &'static str,
}

impl Base {
    pub(crate) fn new(
        tenant: TenantId,
        kinds: &[String],
        condition: Option<&Sql>,
        join: Option<plan::Join>,
    ) -> Base {
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
            text.push_str(" AND (");
            text.push_str(&c.text);
            text.push(')');
            binds.extend(c.binds.iter().cloned());
        }
        Base {
            text,
            binds,
            from: join.map_or("resources r", plan::Join::from),
            pk: join.map_or("r.pk", plan::Join::pk),
        }
    }
}

/// The SQL for one segment of an ordered scan.
pub(crate) fn segment_sql(
    base: &Base,
    order: &Order,
    seg: u8,
    after: Option<&Pos>,
    offset: i64,
    limit: i64,
) -> (String, Vec<Bind>) {
    // Pushed piece by piece: this runs for every list, lookups included.
    let mut text = String::with_capacity(160 + base.text.len());
    let mut binds = base.binds.clone();
    let dir = if order.desc() { " DESC" } else { " ASC" };
    let cmp = if order.desc() { " < " } else { " > " };
    let key = match order {
        Order::Expr { sql, .. } => sql.as_str(),
        _ => "NULL",
    };
    text.push_str("SELECT ");
    text.push_str(COLS);
    text.push_str(", ");
    text.push_str(key);
    text.push_str(" FROM ");
    text.push_str(base.from);
    text.push_str(" WHERE ");
    text.push_str(&base.text);
    match order {
        Order::Expr { sql, nullable, .. } => {
            if *nullable {
                text.push_str(" AND ");
                text.push_str(sql);
                text.push_str(if seg == 0 { " IS NOT NULL" } else { " IS NULL" });
            }
            match after {
                Some(Pos { k, p, .. }) if seg == 0 => {
                    text.push_str(" AND (");
                    text.push_str(sql);
                    text.push_str(", r.pk)");
                    text.push_str(cmp);
                    text.push_str("(?, ?)");
                    binds.push(match k {
                        Key::Int(i) => Bind::Int(*i),
                        Key::Text(s) => Bind::Text(s.clone()),
                        Key::Null => Bind::Text(String::new()),
                    });
                    binds.push(Bind::Int(*p));
                }
                Some(Pos { p, .. }) => {
                    text.push_str(" AND r.pk");
                    text.push_str(cmp);
                    text.push('?');
                    binds.push(Bind::Int(*p));
                }
                None => {}
            }
            text.push_str(" ORDER BY ");
            if seg == 0 {
                text.push_str(sql);
                text.push_str(dir);
                text.push_str(", ");
            }
            text.push_str("r.pk");
            text.push_str(dir);
        }
        _ => {
            if let Some(Pos { p, .. }) = after {
                text.push_str(" AND ");
                text.push_str(base.pk);
                text.push_str(cmp);
                text.push('?');
                binds.push(Bind::Int(*p));
            }
            text.push_str(" ORDER BY ");
            text.push_str(base.pk);
            text.push_str(dir);
        }
    }
    text.push_str(" LIMIT ? OFFSET ?");
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    (text, binds)
}

/// Up to `limit` rows after `after` (or from the start, skipping `offset`), in order.
async fn scan<C: Conn + ?Sized>(
    conn: &mut C,
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
        let text_key = matches!(order, Order::Expr { text: true, .. });
        let rows = conn.rows(&text, &binds, text_key).await?;
        if rows.is_empty() && offset > 0 {
            // The offset lies beyond this segment: carry what is left of it to the next one.
            // (`i64::MAX`, not SQLite's `LIMIT -1`, which PostgreSQL refuses.)
            let (count_text, count_binds) = segment_sql(base, order, seg, None, 0, i64::MAX);
            let n = conn
                .count(
                    &format!("SELECT COUNT(*) FROM ({count_text}) AS segment"),
                    &count_binds,
                )
                .await?;
            offset = (offset - n).max(0);
        } else {
            offset = 0;
        }
        for (data, k) in rows {
            let k = if matches!(order, Order::Expr { .. }) {
                k
            } else {
                Key::Null
            };
            out.push((
                Pos {
                    s: seg,
                    k,
                    p: data.pk,
                },
                data,
            ));
        }
    }
    Ok(out)
}

/// A page of rows with their total and the next cursor.
type Window = (u64, Vec<(i64, Stored)>, Option<String>);

/// The page as returned: memberships loaded as asked, and only as asked.
async fn page<C: Conn + ?Sized>(
    conn: &mut C,
    total: u64,
    mut rows: Vec<(i64, Stored)>,
    next_cursor: Option<String>,
    load: Load,
) -> Result<Page> {
    conn.load_page_extras(&mut rows, load).await?;
    let mut resources = Vec::with_capacity(rows.len());
    for (_, mut stored) in rows {
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
    kinds_of: &'a Kinds,
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
    async fn first_page_alone<C: Conn + ?Sized>(&self, conn: &mut C) -> Result<Option<Window>> {
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
            .map(|(_, r)| r.into_stored_as(self.query.load.raw))
            .collect::<Result<_>>()?;
        Ok(Some((rows.len() as u64, rows, None)))
    }

    /// The filter is answered entirely by SQL: count, then fetch only the page.
    async fn exact<C: Conn + ?Sized>(&self, conn: &mut C) -> Result<Window> {
        let total = if self.query.filter.is_none() {
            let mut sum = 0i64;
            for k in self.kinds {
                sum += conn.type_count(self.tenant, k).await?;
            }
            sum
        } else {
            let text = format!(
                "SELECT COUNT(*) FROM {} WHERE {}",
                self.base.from, self.base.text
            );
            conn.count(&text, &self.base.binds).await?
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
            .map(|(_, r)| r.into_stored_as(self.query.load.raw))
            .collect::<Result<_>>()?;
        Ok((total, rows, next))
    }

    /// SQL narrows and orders; the evaluator decides each candidate. Every candidate is read
    /// (the total needs them all) in chunks, keeping only the page.
    async fn streamed<C: Conn + ?Sized>(
        &self,
        conn: &mut C,
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
    async fn streamed_alone<C: Conn + ?Sized>(
        &self,
        conn: &mut C,
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
    async fn in_memory<C: Conn + ?Sized>(
        &self,
        conn: &mut C,
        filter: Option<&crate::Filter>,
    ) -> Result<Window> {
        let Order::Memory { path, desc } = self.order else {
            return Err(StoreError::Database("in-memory sort without a path".into()));
        };
        let registry = &*self.kinds_of.0;
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
                conn.load_extras(pk, &mut stored, need).await?;
                if filter.is_some_and(|f| !self.kinds_of.matches(f, &stored)) {
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
        let rows = conn.fetch_by_pk(&window).await?;
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

    async fn feed<C: Conn + ?Sized>(
        &mut self,
        conn: &mut C,
        chunk: Vec<(Pos, RowData)>,
    ) -> Result<()> {
        for (pos, row) in chunk {
            let (pk, mut stored) = row.into_stored()?;
            conn.load_extras(pk, &mut stored, self.need).await?;
            if !self.ctx.kinds_of.matches(self.filter, &stored) {
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
        raw: false,
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

impl Kinds {
    /// The order of a list: a column (or a per-type CASE of columns) where one holds the sort
    /// attribute, in memory otherwise.
    pub(crate) fn order(&self, kinds: &[String], query: &Query) -> Result<Order> {
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
                        .0
                        .resource_type(k)
                        .and_then(|rt| self.0.resolve(rt, path))
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
            if let Some(rt) = self.0.resource_type(k)
                && self.0.resolve(rt, path).is_some()
            {
                scim::sort::SortBy::new(&self.0, rt, path)?;
            }
        }
        Ok(Order::Memory {
            path: path.clone(),
            desc,
        })
    }
}
/// A list query, planned and ready to run on a backend's connection.
pub(crate) struct Listing<'a> {
    kinds_of: &'a Kinds,
    tenant: TenantId,
    kinds: Vec<String>,
    query: &'a Query,
    base: Base,
    order: Order,
    fingerprint: String,
    /// `Some(None)`: cursor paging from the start; `Some(Some(c))`: after `c`.
    cursor: Option<Option<Cursor>>,
    /// Whether the evaluator must finish what SQL narrowed.
    inexact: bool,
}

impl<'a> Listing<'a> {
    pub(crate) fn new(
        kinds_of: &'a Kinds,
        tenant: TenantId,
        kind: Option<&str>,
        query: &'a Query,
        dialect: Dialect,
    ) -> Result<Listing<'a>> {
        let kinds = match kind {
            Some(k) => vec![kinds_of.known_kind(k)?],
            None => kinds_of.all_kinds(),
        };
        let kind_refs: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let plan = query
            .filter
            .as_ref()
            .map(|f| plan::plan(f, tenant.0, &kind_refs, dialect));
        let order = kinds_of.order(&kinds, query)?;
        let base = Base::new(
            tenant,
            &kinds,
            plan.as_ref().and_then(|p| p.condition.as_ref()),
            plan.as_ref().and_then(|p| p.join),
        );
        // Only cursors carry it; index paging (the common `filter=userName eq` lookup) skips
        // the hash.
        let fingerprint = if query.cursor.is_some() {
            fingerprint(&kinds, query)
        } else {
            String::new()
        };
        let cursor = match query.cursor.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(text) => Some(Some(Cursor::decode(text, &fingerprint)?)),
        };
        Ok(Listing {
            kinds_of,
            tenant,
            inexact: plan.is_some_and(|p| !p.exact),
            kinds,
            query,
            base,
            order,
            fingerprint,
            cursor,
        })
    }

    fn ctx(&self) -> ListCtx<'_> {
        ListCtx {
            kinds_of: self.kinds_of,
            tenant: self.tenant,
            kinds: &self.kinds,
            query: self.query,
            base: &self.base,
            order: &self.order,
            fingerprint: &self.fingerprint,
            cursor: self.cursor.as_ref().map(|c| c.as_ref()),
        }
    }

    fn eval(&self) -> Option<&'a crate::Filter> {
        self.query.filter.as_ref().filter(|_| self.inexact)
    }

    /// The answer from one statement, when the query allows it: the caller then needs no
    /// transaction. `None` when the answer takes several statements.
    pub(crate) async fn alone<C: Conn + ?Sized>(&self, conn: &mut C) -> Result<Option<Page>> {
        if matches!(self.order, Order::Memory { .. }) {
            return Ok(None);
        }
        let ctx = self.ctx();
        let alone = match self.eval() {
            None => ctx.first_page_alone(conn).await?,
            Some(filter) => ctx.streamed_alone(conn, filter).await?,
        };
        match alone {
            Some((total, rows, next)) => {
                Ok(Some(page(conn, total, rows, next, self.query.load).await?))
            }
            None => Ok(None),
        }
    }

    /// The answer from several statements, which the caller runs in one read transaction so
    /// that they see one snapshot (count, page, chunks, memberships).
    pub(crate) async fn run<C: Conn + ?Sized>(&self, conn: &mut C) -> Result<Page> {
        let ctx = self.ctx();
        let (total, rows, next) = match (&self.order, self.eval()) {
            (Order::Memory { .. }, _) => ctx.in_memory(conn, self.query.filter.as_ref()).await?,
            (_, Some(filter)) => ctx.streamed(conn, filter).await?,
            (_, None) => ctx.exact(conn).await?,
        };
        page(conn, total, rows, next, self.query.load).await
    }
}
