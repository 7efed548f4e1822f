//! Filter pushdown: which part of a SCIM filter the indexed columns answer.
//!
//! A filter becomes a SQL condition that is *exact or a superset*: it may let through resources
//! the filter rejects (then the plan is marked inexact and the in-memory evaluator finishes the
//! job on the candidates), but it never drops one the filter accepts. Exactness is claimed only
//! where the column semantics are provably those of `scim::Filter::matches`:
//!
//! * `id` and `externalId` are caseExact strings: SQLite's BINARY collation orders UTF-8 by code
//!   point, as Rust's `str` does, so every operator is exact.
//! * `userName` and `displayName` live lower-cased in `name_lc`/`display_lc`, folded with
//!   `char::to_lowercase` exactly as the evaluator folds for `eq` and ordering. For `sw`/`ew`/`co`
//!   the evaluator folds non-ASCII text with `str::to_lowercase` (final sigma differs), so only
//!   ASCII literals are pushed down for those.
//! * `meta.created`/`meta.lastModified` are integer milliseconds; a literal with sub-millisecond
//!   digits is turned into the integer bound that selects exactly the same instants.
//! * `emails.value` (and `emails`) holds one folded row per string address in the `emails`
//!   table, so `eq`, and `sw` with an ASCII literal, are exact there too; an element filter
//!   with more than the `value` test (`emails[type eq "work" and value eq "…"]`) narrows by
//!   the address and the evaluator checks the rest.
//! * `members.value eq` on Groups goes through the membership table's reverse index.
//!
//! Leaves stay plain comparisons so the database can drive them from an index. A leaf is NULL
//! only when its column is, and NULL under `AND`/`OR` then acts as false at the top of a WHERE
//! (Kleene logic agrees with two-valued logic wherever the result is determined); only `not`
//! could turn that NULL into the wrong answer, so it is pushed down as `NOT COALESCE(x, FALSE)`,
//! and only over an exact operand. `or` needs both sides; `and` narrows with whichever side it
//! can.
//!
//! The SQL is the common subset of SQLite and PostgreSQL, with `?` placeholders (the PostgreSQL
//! backend numbers them when it runs the statement). The few string functions the two spell
//! differently go through [`Dialect`]. On PostgreSQL the text columns are declared
//! `COLLATE "C"`, which orders UTF-8 by code point as SQLite's BINARY does, so the exactness
//! argument above holds unchanged on both.

use scim::filter::{CompValue, CompareOp, Filter};
use scim::{AttrPath, urn};
use time::OffsetDateTime;

/// The database a plan's SQL is written for; they differ only in a few string functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `c` ends with the bound text, given its length in characters as the first bind.
    fn ends_with(self, c: &str) -> String {
        match self {
            Dialect::Sqlite => format!("substr({c}, -?) = ?"),
            Dialect::Postgres => format!("right({c}, CAST(? AS INTEGER)) = ?"),
        }
    }

    /// `c` starts with the bound text, given its length in characters as the first bind.
    fn starts_with(self, c: &str) -> String {
        match self {
            Dialect::Sqlite => format!("substr({c}, 1, ?) = ?"),
            Dialect::Postgres => format!("left({c}, CAST(? AS INTEGER)) = ?"),
        }
    }

    /// `c` contains the bound text.
    fn contains(self, c: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({c}, ?) > 0"),
            Dialect::Postgres => format!("strpos({c}, ?) > 0"),
        }
    }
}

/// A value bound to a `?` placeholder, in order of appearance.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Int(i64),
    Text(String),
}

/// A SQL fragment over `resources r` with its bound values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

/// The pushed-down part of a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The condition; `None` when SQL cannot narrow the filter at all.
    pub condition: Option<Sql>,
    /// Whether `condition` selects exactly the resources the filter accepts.
    pub exact: bool,
    /// A table the rows are reached through; `condition` may then name it.
    pub join: Option<Join>,
}

/// A table a query reaches `resources r` through, instead of reading `resources` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// `emails e`, one row per matching address, in resource order.
    Email,
}

impl Join {
    /// The `FROM` clause.
    pub fn from(self) -> &'static str {
        match self {
            // CROSS JOIN fixes the order: the address index first, then each row by its key.
            Join::Email => "emails e CROSS JOIN resources r ON r.pk = e.resource",
        }
    }

    /// The column equal to `r.pk` that follows the driving index's order: ordering by it
    /// needs no sort.
    pub fn pk(self) -> &'static str {
        match self {
            Join::Email => "e.resource",
        }
    }
}

/// An indexed column, as a filter or a sort sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Id,
    ExternalId,
    /// `userName` of a User, `displayName` of a Group (lower-cased).
    NameLc,
    /// `displayName` of a User (lower-cased).
    DisplayLc,
    Active,
    Created,
    LastModified,
    /// `emails.value`, through the `emails` table (lower-cased).
    Email,
    /// `members.value` of a Group, through the `members` table.
    Member,
}

impl Col {
    pub fn sql(self) -> &'static str {
        match self {
            Col::Id => "r.id",
            Col::ExternalId => "r.external_id",
            Col::NameLc => "r.name_lc",
            Col::DisplayLc => "r.display_lc",
            Col::Active => "r.active",
            Col::Created => "r.created",
            Col::LastModified => "r.last_modified",
            Col::Email => "e.value_lc",
            Col::Member => "x.id",
        }
    }

    fn folded(self) -> bool {
        matches!(self, Col::NameLc | Col::DisplayLc | Col::Email)
    }

    /// Whether a row may lack a value (decides whether sorting needs a separate NULL segment).
    pub fn nullable(self) -> bool {
        !matches!(self, Col::Id | Col::Created | Col::LastModified)
    }

    pub fn is_time(self) -> bool {
        matches!(self, Col::Created | Col::LastModified)
    }
}

/// Lower-cases the way the evaluator's case-insensitive `eq` and ordering do (char by char;
/// `str::to_lowercase` would treat a final sigma differently).
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.chars().flat_map(char::to_lowercase).collect()
    }
}

/// The core schema URN of a built-in resource type.
fn core_urn(kind: &str) -> Option<&'static str> {
    match kind {
        "User" => Some(urn::USER),
        "Group" => Some(urn::GROUP),
        _ => None,
    }
}

/// The indexed column a filter or sort path names in resources of `kind`, if any.
pub fn column(kind: &str, path: &AttrPath) -> Option<Col> {
    if let Some(u) = &path.urn
        && !core_urn(kind).is_some_and(|c| c.eq_ignore_ascii_case(u))
    {
        return None;
    }
    let name = path.name.as_str();
    let sub = path.sub.as_deref();
    let is = |a: &str| name.eq_ignore_ascii_case(a);
    let sub_is = |a: &str| sub.is_some_and(|s| s.eq_ignore_ascii_case(a));
    if sub.is_none() && is("id") {
        return Some(Col::Id);
    }
    if sub.is_none() && is("externalId") {
        return Some(Col::ExternalId);
    }
    if is("meta") {
        return if sub_is("created") {
            Some(Col::Created)
        } else if sub_is("lastModified") {
            Some(Col::LastModified)
        } else {
            None
        };
    }
    match kind {
        "User" if sub.is_none() && is("userName") => Some(Col::NameLc),
        "User" if sub.is_none() && is("displayName") => Some(Col::DisplayLc),
        "User" if sub.is_none() && is("active") => Some(Col::Active),
        "User" if is("emails") && (sub.is_none() || sub_is("value")) => Some(Col::Email),
        "Group" if sub.is_none() && is("displayName") => Some(Col::NameLc),
        "Group" if is("members") && (sub.is_none() || sub_is("value")) => Some(Col::Member),
        _ => None,
    }
}

/// Plans `filter` for resources of the given kinds in one tenant (the emails subquery needs the
/// tenant to use its index), in the SQL of `dialect`.
pub fn plan(filter: &Filter, tenant: i64, kinds: &[&str], dialect: Dialect) -> Plan {
    let cx = Cx { tenant, dialect };
    if let Some(plan) = email_join(filter, cx, kinds) {
        return plan;
    }
    match node(filter, cx, kinds) {
        Some(n) => Plan {
            condition: Some(Sql {
                text: n.text,
                binds: n.binds,
            }),
            exact: n.exact,
            join: None,
        },
        None => Plan {
            condition: None,
            exact: false,
            join: None,
        },
    }
}

/// `emails.value eq "x"` alone on Users, the lookup provisioning clients make: on SQLite, the
/// rows are reached from the address index in key order. As a condition (`r.pk IN (SELECT …)`,
/// which any other filter with an address test gets) SQLite first copies the matching keys
/// into a temporary table: a fifth of the lookup's instructions (callgrind). Only `eq` can
/// join: the emails table holds one row per resource and address, so no resource comes twice.
/// PostgreSQL keeps the condition, whose plan has no such cost.
fn email_join(filter: &Filter, cx: Cx, kinds: &[&str]) -> Option<Plan> {
    let Filter::Compare {
        path,
        op: CompareOp::Eq,
        value: CompValue::String(literal),
    } = filter
    else {
        return None;
    };
    if cx.dialect != Dialect::Sqlite
        || kinds != ["User"]
        || column("User", path) != Some(Col::Email)
    {
        return None;
    }
    Some(Plan {
        condition: Some(Sql {
            text: "e.tenant = ? AND e.value_lc = ?".to_owned(),
            binds: vec![Bind::Int(cx.tenant), Bind::Text(fold(literal))],
        }),
        exact: true,
        join: Some(Join::Email),
    })
}

/// Whether the filter reads an attribute the plan's rows do not carry: the evaluator then needs
/// `members` (Groups) or `groups` (Users) in the resource it is given.
pub fn touches(filter: &Filter, attr: &str) -> bool {
    match filter {
        Filter::Compare { path, .. } | Filter::Present(path) => {
            path.name.eq_ignore_ascii_case(attr)
        }
        Filter::ValuePath { attr: a, .. } => a.name.eq_ignore_ascii_case(attr),
        Filter::And(l, r) | Filter::Or(l, r) => touches(l, attr) || touches(r, attr),
        Filter::Not(f) => touches(f, attr),
    }
}

/// What every leaf's translation depends on besides the leaf.
#[derive(Debug, Clone, Copy)]
struct Cx {
    tenant: i64,
    dialect: Dialect,
}

#[derive(Debug)]
struct Node {
    text: String,
    binds: Vec<Bind>,
    exact: bool,
}

fn node(filter: &Filter, cx: Cx, kinds: &[&str]) -> Option<Node> {
    match filter {
        Filter::And(l, r) => match (node(l, cx, kinds), node(r, cx, kinds)) {
            (Some(a), Some(b)) => Some(join(a, "AND", b)),
            (Some(a), None) | (None, Some(a)) => Some(Node { exact: false, ..a }),
            (None, None) => None,
        },
        Filter::Or(l, r) => {
            let (a, b) = (node(l, cx, kinds)?, node(r, cx, kinds)?);
            Some(join(a, "OR", b))
        }
        Filter::Not(inner) => {
            let n = node(inner, cx, kinds)?;
            n.exact.then(|| Node {
                text: format!("NOT COALESCE(({}), FALSE)", n.text),
                ..n
            })
        }
        Filter::Compare { path, .. } | Filter::Present(path) => per_kind(kinds, |kind| {
            let col = column(kind, path)?;
            leaf(filter, col, cx)
        }),
        Filter::ValuePath {
            attr,
            filter: inner,
        } => per_kind(kinds, |kind| {
            let whole = AttrPath {
                sub: None,
                ..attr.clone()
            };
            match column(kind, &whole)? {
                Col::Email => element_narrowing(inner, cx, email_lookup),
                Col::Member => element_narrowing(inner, cx, member_lookup),
                _ => None,
            }
        }),
    }
}

/// Translates a leaf for each kind in scope. One kind: its translation. Several: the shared
/// translation when every kind gives the same one, else `(kind = K AND …) OR …`, where a kind
/// that cannot narrow contributes `kind = K` (and the result is inexact).
fn per_kind(kinds: &[&str], f: impl Fn(&str) -> Option<Node>) -> Option<Node> {
    let nodes: Vec<(&str, Option<Node>)> = kinds.iter().map(|k| (*k, f(k))).collect();
    if nodes.iter().all(|(_, n)| n.is_none()) {
        return None;
    }
    if nodes.len() == 1 {
        return nodes.into_iter().next().and_then(|(_, n)| n);
    }
    let first = nodes[0].1.as_ref();
    if nodes
        .iter()
        .all(|(_, n)| n.as_ref().map(|n| (&n.text, &n.binds)) == first.map(|n| (&n.text, &n.binds)))
    {
        return nodes.into_iter().next().and_then(|(_, n)| n);
    }
    let mut text = String::new();
    let mut binds = Vec::new();
    let mut exact = true;
    for (i, (kind, n)) in nodes.into_iter().enumerate() {
        if i > 0 {
            text.push_str(" OR ");
        }
        binds.push(Bind::Text(kind.to_owned()));
        match n {
            Some(n) => {
                text.push_str(&format!("(r.kind = ? AND ({}))", n.text));
                binds.extend(n.binds);
                exact &= n.exact;
            }
            None => {
                text.push_str("(r.kind = ?)");
                exact = false;
            }
        }
    }
    Some(Node { text, binds, exact })
}

fn join(a: Node, op: &str, b: Node) -> Node {
    let mut binds = a.binds;
    binds.extend(b.binds);
    Node {
        text: format!("({}) {op} ({})", a.text, b.text),
        binds,
        exact: a.exact && b.exact,
    }
}

fn exact(text: impl Into<String>, binds: Vec<Bind>) -> Option<Node> {
    Some(Node {
        text: text.into(),
        binds,
        exact: true,
    })
}

/// One comparison or presence test on an indexed column.
fn leaf(filter: &Filter, col: Col, cx: Cx) -> Option<Node> {
    if matches!(col, Col::Email | Col::Member) {
        let Filter::Compare {
            op,
            value: CompValue::String(s),
            ..
        } = filter
        else {
            return None;
        };
        return if col == Col::Email {
            email_lookup(*op, s, cx)
        } else {
            member_lookup(*op, s, cx)
        };
    }
    let c = col.sql();
    let (op, value) = match filter {
        Filter::Present(_) => {
            return match col {
                Col::Id | Col::ExternalId | Col::NameLc | Col::DisplayLc => {
                    exact(format!("({c} IS NOT NULL AND {c} <> '')"), vec![])
                }
                Col::Created | Col::LastModified => exact("TRUE", vec![]),
                // A stored `active` that is not a boolean is NULL in the column but may still be
                // "present" to the evaluator.
                Col::Active | Col::Email | Col::Member => None,
            };
        }
        Filter::Compare { op, value, .. } => (*op, value),
        _ => return None,
    };
    if op == CompareOp::Ne {
        let eq = leaf(
            &Filter::Compare {
                path: AttrPath::name("x"),
                op: CompareOp::Eq,
                value: value.clone(),
            },
            col,
            cx,
        )?;
        return eq.exact.then(|| Node {
            text: format!("NOT COALESCE(({}), FALSE)", eq.text),
            ..eq
        });
    }
    if *value == CompValue::Null {
        // `eq null` is "not present"; other operators against null match nothing.
        return match op {
            CompareOp::Eq => {
                let pr = leaf(&Filter::Present(AttrPath::name("x")), col, cx)?;
                Some(Node {
                    text: format!("NOT COALESCE(({}), FALSE)", pr.text),
                    ..pr
                })
            }
            _ => exact("FALSE", vec![]),
        };
    }
    match col {
        Col::Active => {
            let b = match value {
                CompValue::Bool(b) => *b,
                CompValue::String(s) if s.eq_ignore_ascii_case("true") => true,
                CompValue::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return None,
            };
            (op == CompareOp::Eq).then(|| Node {
                text: format!("{c} = ?"),
                binds: vec![Bind::Int(b.into())],
                exact: true,
            })
        }
        Col::Created | Col::LastModified => {
            let CompValue::String(s) = value else {
                return None;
            };
            time_leaf(c, op, parse_datetime(s)?)
        }
        _ => {
            let CompValue::String(s) = value else {
                return None;
            };
            text_leaf(c, op, s, col.folded(), cx.dialect)
        }
    }
}

/// A string comparison on a text column, `folded` when the column holds lower-cased text.
fn text_leaf(
    c: &str,
    op: CompareOp,
    literal: &str,
    folded: bool,
    dialect: Dialect,
) -> Option<Node> {
    if folded && matches!(op, CompareOp::Sw | CompareOp::Ew | CompareOp::Co) && !literal.is_ascii()
    {
        return None;
    }
    let v = if folded {
        fold(literal)
    } else {
        literal.to_owned()
    };
    let cmp = |sym: &str| exact(format!("{c} {sym} ?"), vec![Bind::Text(v.clone())]);
    match op {
        CompareOp::Eq => cmp("="),
        CompareOp::Gt => cmp(">"),
        CompareOp::Ge => cmp(">="),
        CompareOp::Lt => cmp("<"),
        CompareOp::Le => cmp("<="),
        // Every present value starts with, ends with and contains "" (nulls never reach here).
        CompareOp::Sw | CompareOp::Ew | CompareOp::Co if v.is_empty() => {
            exact(format!("({c} IS NOT NULL)"), vec![])
        }
        CompareOp::Sw => match successor(&v) {
            // The prefix range uses the index: every string with prefix p lies in
            // [p, p with its last character incremented).
            Some(hi) => exact(
                format!("({c} >= ? AND {c} < ?)"),
                vec![Bind::Text(v), Bind::Text(hi)],
            ),
            None => exact(
                dialect.starts_with(c),
                vec![Bind::Int(v.chars().count() as i64), Bind::Text(v)],
            ),
        },
        CompareOp::Ew => exact(
            dialect.ends_with(c),
            vec![Bind::Int(v.chars().count() as i64), Bind::Text(v)],
        ),
        CompareOp::Co => exact(dialect.contains(c), vec![Bind::Text(v)]),
        CompareOp::Ne => None,
    }
}

/// The smallest string greater than every string with prefix `p` (in code point order), if
/// incrementing the last character is possible.
fn successor(p: &str) -> Option<String> {
    let last = p.chars().last()?;
    let mut next = last as u32 + 1;
    if (0xD800..0xE000).contains(&next) {
        next = 0xE000;
    }
    let next = char::from_u32(next)?;
    let mut s = p[..p.len() - last.len_utf8()].to_owned();
    s.push(next);
    Some(s)
}

/// A dateTime comparison on integer milliseconds. With `v = q ms + r ns` (0 <= r < 1 ms), a
/// stored `t` (whole ms) satisfies `t > v` iff `t > q`, `t >= v` iff `t >= q + (r > 0)`, `t < v`
/// iff `t < q + (r > 0)`, `t <= v` iff `t <= q`, and `t = v` iff `r = 0 and t = q`.
fn time_leaf(c: &str, op: CompareOp, v: OffsetDateTime) -> Option<Node> {
    let ns = v.unix_timestamp_nanos();
    let q = i64::try_from(ns.div_euclid(1_000_000)).ok()?;
    let up = q + i64::from(ns.rem_euclid(1_000_000) != 0);
    let cmp = |sym: &str, bound: i64| exact(format!("{c} {sym} ?"), vec![Bind::Int(bound)]);
    match op {
        CompareOp::Eq if up != q => exact("FALSE", vec![]),
        CompareOp::Eq => cmp("=", q),
        CompareOp::Gt => cmp(">", q),
        CompareOp::Ge => cmp(">=", up),
        CompareOp::Lt => cmp("<", up),
        CompareOp::Le => cmp("<=", q),
        // `sw`/`ew`/`co` on a dateTime compare its text rendering: left to the evaluator.
        _ => None,
    }
}

/// `emails.value <op> "x"` (or `emails <op> "x"`): the candidates holding such an address.
fn email_lookup(op: CompareOp, literal: &str, cx: Cx) -> Option<Node> {
    if !matches!(op, CompareOp::Eq | CompareOp::Sw) {
        return None;
    }
    let inner = text_leaf("e.value_lc", op, literal, true, cx.dialect)?;
    let mut binds = vec![Bind::Int(cx.tenant)];
    binds.extend(inner.binds);
    Some(Node {
        text: format!(
            "r.pk IN (SELECT e.resource FROM emails e WHERE e.tenant = ? AND {})",
            inner.text
        ),
        binds,
        exact: inner.exact,
    })
}

/// `members.value eq "x"` (or `members eq "x"`): the groups with that member, found from the
/// membership table's reverse index without reading any group's member list. Exact: member ids
/// are ids this store generated (lower-case UUIDs), so comparing with the folded literal is the
/// evaluator's case-insensitive `eq` (`members.value` is not caseExact).
fn member_lookup(op: CompareOp, literal: &str, cx: Cx) -> Option<Node> {
    (op == CompareOp::Eq).then(|| Node {
        text: "r.pk IN (SELECT m.group_pk FROM members m JOIN resources x ON x.pk = m.member_pk \
               WHERE x.tenant = ? AND x.kind IN ('User', 'Group') AND x.id = ?)"
            .to_owned(),
        binds: vec![Bind::Int(cx.tenant), Bind::Text(fold(literal))],
        exact: true,
    })
}

/// Narrowing for `emails[<filter>]` / `members[<filter>]` from the `value` tests the element
/// filter requires; exact only when the element filter is that one test.
fn element_narrowing(
    filter: &Filter,
    cx: Cx,
    lookup: fn(CompareOp, &str, Cx) -> Option<Node>,
) -> Option<Node> {
    match filter {
        Filter::Compare {
            path,
            op,
            value: CompValue::String(s),
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            lookup(*op, s, cx)
        }
        Filter::And(l, r) => {
            match (
                element_narrowing(l, cx, lookup),
                element_narrowing(r, cx, lookup),
            ) {
                (Some(a), Some(b)) => Some(Node {
                    exact: false,
                    ..join(a, "AND", b)
                }),
                (Some(a), None) | (None, Some(a)) => Some(Node { exact: false, ..a }),
                (None, None) => None,
            }
        }
        Filter::Or(l, r) => {
            let n = join(
                element_narrowing(l, cx, lookup)?,
                "OR",
                element_narrowing(r, cx, lookup)?,
            );
            Some(Node { exact: false, ..n })
        }
        _ => None,
    }
}

/// The evaluator's reading of a dateTime literal, so SQL bounds and in-memory checks agree.
pub use scim::filter::parse_datetime;

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, op: CompareOp, v: &str) -> Filter {
        Filter::Compare {
            path: AttrPath::parse(path).unwrap(),
            op,
            value: CompValue::String(v.into()),
        }
    }

    #[test]
    fn user_name_eq_is_an_exact_index_lookup() {
        let p = plan(
            &f("userName", CompareOp::Eq, "BJensen"),
            1,
            &["User"],
            Dialect::Sqlite,
        );
        assert!(p.exact);
        let sql = p.condition.unwrap();
        assert_eq!(sql.text, "r.name_lc = ?");
        assert_eq!(sql.binds, vec![Bind::Text("bjensen".into())]);
    }

    #[test]
    fn unknown_attribute_does_not_narrow() {
        let p = plan(
            &f("name.familyName", CompareOp::Eq, "x"),
            1,
            &["User"],
            Dialect::Sqlite,
        );
        assert_eq!(p.condition, None);
        assert!(!p.exact);
    }

    #[test]
    fn and_with_one_side_narrows_but_is_inexact() {
        let filter = Filter::And(
            Box::new(f("externalId", CompareOp::Eq, "e1")),
            Box::new(f("title", CompareOp::Eq, "x")),
        );
        let p = plan(&filter, 1, &["User"], Dialect::Sqlite);
        assert!(!p.exact);
        assert_eq!(p.condition.unwrap().text, "r.external_id = ?");
    }

    #[test]
    fn display_name_differs_per_kind() {
        let p = plan(
            &f("displayName", CompareOp::Eq, "X"),
            1,
            &["Group", "User"],
            Dialect::Sqlite,
        );
        assert!(p.exact);
        assert_eq!(
            p.condition.unwrap().text,
            "(r.kind = ? AND (r.name_lc = ?)) OR (r.kind = ? AND (r.display_lc = ?))"
        );
    }

    #[test]
    fn sub_millisecond_literals_round_the_right_way() {
        let t = "2024-01-01T00:00:00.0005Z";
        let ms = parse_datetime("2024-01-01T00:00:00Z")
            .unwrap()
            .unix_timestamp()
            * 1000;
        let p = plan(
            &f("meta.lastModified", CompareOp::Ge, t),
            1,
            &["User"],
            Dialect::Sqlite,
        );
        assert_eq!(p.condition.unwrap().binds, vec![Bind::Int(ms + 1)]);
        let p = plan(
            &f("meta.lastModified", CompareOp::Le, t),
            1,
            &["User"],
            Dialect::Sqlite,
        );
        assert_eq!(p.condition.unwrap().binds, vec![Bind::Int(ms)]);
    }

    #[test]
    fn prefix_range_upper_bound() {
        assert_eq!(successor("ab").as_deref(), Some("ac"));
        assert_eq!(successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(successor(""), None);
    }
}
