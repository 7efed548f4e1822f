//! The planned path (SQL narrowing, then the evaluator where SQL is not exact) returns exactly
//! what evaluating the filter on every resource returns, for random data and filters.

use proptest::prelude::*;
use scim::AttrPath;
use scim::filter::{CompValue, CompareOp, Filter};
use serde_json::{Map, Value, json};
use store::{Load, Query, SortOrder};
use time::format_description::well_known::Rfc3339;

use super::*;

/// Texts chosen to collide under case folding, prefixes and ordering, including the final
/// sigma that `str::to_lowercase` and `char::to_lowercase` fold differently.
const TEXTS: &[&str] = &[
    "al",
    "AL",
    "Al2",
    "b",
    "bo",
    "BOB",
    "é",
    "É",
    "cé",
    "Σa",
    "σa",
    "ςa",
    "zz",
    "E1",
    "e1",
    "",
    "x@y.com",
    "X@Y.COM",
    "work",
    "home",
    "\u{212A}elvin",
    "kelvin",
];

#[derive(Debug, Clone)]
struct Spec {
    group: bool,
    name: String,
    external_id: Option<String>,
    display: Option<String>,
    active: Option<Value>,
    title: Option<String>,
    emails: Vec<(String, String)>,
    tick: i64,
}

fn text() -> impl Strategy<Value = String> {
    prop::sample::select(TEXTS).prop_map(str::to_owned)
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::bool::weighted(0.2),
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            Just(json!(true)),
            Just(json!(false)),
            Just(json!("yes"))
        ]),
        prop::option::of(text()),
        prop::collection::vec((text(), prop::sample::select(&["work", "home"][..])), 0..3),
        0i64..3000,
    )
        .prop_map(
            |(group, name, external_id, display, active, title, emails, tick)| Spec {
                group,
                name,
                external_id,
                display,
                active,
                title,
                emails: emails.into_iter().map(|(v, t)| (v, t.to_owned())).collect(),
                tick,
            },
        )
}

fn doc(s: &Spec) -> Value {
    let mut d = Map::new();
    if s.group {
        d.insert("schemas".into(), json!([scim::urn::GROUP]));
        d.insert("displayName".into(), json!(s.name));
    } else {
        d.insert("schemas".into(), json!([scim::urn::USER]));
        d.insert("userName".into(), json!(s.name));
        if let Some(v) = &s.display {
            d.insert("displayName".into(), json!(v));
        }
        if let Some(v) = &s.active {
            d.insert("active".into(), v.clone());
        }
        if let Some(v) = &s.title {
            d.insert("title".into(), json!(v));
        }
        if !s.emails.is_empty() {
            let list: Vec<Value> = s
                .emails
                .iter()
                .map(|(v, t)| json!({"value": v, "type": t}))
                .collect();
            d.insert("emails".into(), Value::Array(list));
        }
    }
    if let Some(v) = &s.external_id {
        d.insert("externalId".into(), json!(v));
    }
    Value::Object(d)
}

const PATHS: &[&str] = &[
    "userName",
    "externalId",
    "displayName",
    "active",
    "title",
    "emails.value",
    "emails",
    "meta.created",
    "meta.lastModified",
    "id",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
];

const OPS: &[CompareOp] = &[
    CompareOp::Eq,
    CompareOp::Ne,
    CompareOp::Co,
    CompareOp::Sw,
    CompareOp::Ew,
    CompareOp::Gt,
    CompareOp::Ge,
    CompareOp::Lt,
    CompareOp::Le,
];

fn time_literal() -> impl Strategy<Value = String> {
    (0i64..12_000, prop::bool::ANY, prop::bool::ANY).prop_map(|(off, frac, zone)| {
        let t = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(EPOCH_MS + off) * 1_000_000 + if frac { 500_000 } else { 0 },
        )
        .unwrap();
        if zone {
            t.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
                .format(&Rfc3339)
                .unwrap()
        } else {
            t.format(&Rfc3339).unwrap()
        }
    })
}

fn literal() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        4 => text().prop_map(CompValue::String),
        2 => time_literal().prop_map(CompValue::String),
        1 => prop::bool::ANY.prop_map(CompValue::Bool),
        1 => Just(CompValue::String("True".into())),
        1 => Just(CompValue::Null),
        1 => Just(CompValue::Number(5.into())),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    let path = prop::sample::select(PATHS).prop_map(|p| AttrPath::parse(p).unwrap());
    prop_oneof![
        6 => (path.clone(), prop::sample::select(OPS), literal())
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => path.prop_map(Filter::Present),
        2 => (prop::sample::select(OPS), text(), prop::option::of(prop::sample::select(&["work", "home"][..])))
            .prop_map(|(op, v, ty)| {
                let value = Filter::Compare {
                    path: AttrPath::name("value"),
                    op,
                    value: CompValue::String(v),
                };
                let inner = match ty {
                    Some(t) => Filter::And(
                        Box::new(Filter::Compare {
                            path: AttrPath::name("type"),
                            op: CompareOp::Eq,
                            value: CompValue::String(t.into()),
                        }),
                        Box::new(value),
                    ),
                    None => value,
                };
                Filter::ValuePath {
                    attr: AttrPath::name("emails"),
                    filter: Box::new(inner),
                }
            }),
    ]
}

fn filter_tree() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

/// The resource as the evaluator sees it, built independently of the store.
fn resource(s: &Stored) -> Value {
    let mut obj = s.doc.as_object().cloned().unwrap_or_default();
    obj.insert("id".into(), json!(s.id));
    obj.insert(
        "meta".into(),
        json!({
            "resourceType": s.kind,
            "created": s.created.format(&Rfc3339).unwrap(),
            "lastModified": s.last_modified.format(&Rfc3339).unwrap(),
            "version": format!("W/\"{}\"", s.version),
        }),
    );
    Value::Object(obj)
}

async fn check(specs: Vec<Spec>, filters: Vec<Filter>) -> Result<(), TestCaseError> {
    let reg = registry();
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "p").await;
        for sp in &specs {
            b.tick(sp.tick);
            let kind = if sp.group { "Group" } else { "User" };
            // Names collide on purpose; the uniqueness index decides which exist.
            let _ = s.create(t, kind, doc(sp), vec![]).await;
        }
        let everything = s.list(t, None, &query("")).await.unwrap().resources;
        for f in &filters {
            for kind in [Some("User"), None] {
                let expected: Vec<&str> = everything
                    .iter()
                    .filter(|r| kind.is_none_or(|k| r.kind == k))
                    .filter(|r| {
                        let rt = reg.resource_type(&r.kind).unwrap();
                        f.matches(&resource(r), &reg, rt)
                    })
                    .map(|r| r.id.as_str())
                    .collect();
                let q = Query {
                    filter: Some(f.clone()),
                    start_index: 1,
                    count: 1000,
                    load: Load::default(),
                    ..Query::default()
                };
                let page = s.list(t, kind, &q).await.unwrap();
                let got: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
                prop_assert_eq!(&got, &expected, "{} on {:?}: {:?}", b.name, kind, f);
                prop_assert_eq!(page.total as usize, expected.len());
                // A window of the same query agrees with the whole.
                let window = s
                    .list(
                        t,
                        kind,
                        &Query {
                            start_index: 2,
                            count: 2,
                            ..q.clone()
                        },
                    )
                    .await
                    .unwrap();
                let want: Vec<&str> = expected.iter().skip(1).take(2).copied().collect();
                let got: Vec<&str> = window.resources.iter().map(|r| r.id.as_str()).collect();
                prop_assert_eq!(got, want);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn planned_filters_match_in_memory_evaluation(
        specs in prop::collection::vec(spec(), 0..14),
        filters in prop::collection::vec(filter_tree(), 1..8),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(specs, filters))?;
    }
}

const SORTS: &[&str] = &[
    "userName",
    "externalId",
    "displayName",
    "meta.created",
    "meta.lastModified",
    "active",
    "title",
    "emails.value",
    "emails",
    "id",
];

/// `expected` in the order RFC 7644 and the protocol crate define: by sort key, missing last,
/// ties in creation order; descending is the exact reverse.
fn sort_expected(items: &mut Vec<&Stored>, reg: &scim::Registry, path: &AttrPath, desc: bool) {
    items.sort_by_key(|r| r.created);
    items.sort_by_cached_key(|r| {
        let rt = reg.resource_type(&r.kind).unwrap();
        scim::sort::SortBy::new(reg, rt, path)
            .map_or(scim::sort::SortKey::Missing, |s| s.key(&resource(r)))
    });
    if desc {
        items.reverse();
    }
}

async fn check_sorted(
    specs: Vec<Spec>,
    filter: Option<Filter>,
    sort: &str,
    desc: bool,
    size: u64,
) -> Result<(), TestCaseError> {
    let reg = registry();
    let path = AttrPath::parse(sort).unwrap();
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "p").await;
        for sp in &specs {
            b.tick(sp.tick);
            let kind = if sp.group { "Group" } else { "User" };
            let _ = s.create(t, kind, doc(sp), vec![]).await;
        }
        let everything = s.list(t, None, &query("")).await.unwrap().resources;
        for kind in [Some("User"), None] {
            let mut expected: Vec<&Stored> = everything
                .iter()
                .filter(|r| kind.is_none_or(|k| r.kind == k))
                .filter(|r| {
                    let rt = reg.resource_type(&r.kind).unwrap();
                    filter
                        .as_ref()
                        .is_none_or(|f| f.matches(&resource(r), &reg, rt))
                })
                .collect();
            sort_expected(&mut expected, &reg, &path, desc);
            let expected: Vec<&str> = expected.iter().map(|r| r.id.as_str()).collect();
            let q = Query {
                filter: filter.clone(),
                sort_by: Some(path.clone()),
                sort_order: if desc {
                    SortOrder::Descending
                } else {
                    SortOrder::Ascending
                },
                start_index: 1,
                count: 1000,
                ..Query::default()
            };
            let page = s.list(t, kind, &q).await.unwrap();
            let got: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
            prop_assert_eq!(
                &got,
                &expected,
                "{} {:?} sorted by {} desc={}",
                b.name,
                kind,
                sort,
                desc
            );

            // Index windows.
            let window = s
                .list(
                    t,
                    kind,
                    &Query {
                        start_index: 1 + size,
                        count: size,
                        ..q.clone()
                    },
                )
                .await
                .unwrap();
            let want: Vec<&str> = expected
                .iter()
                .skip(size as usize)
                .take(size as usize)
                .copied()
                .collect();
            let got: Vec<&str> = window.resources.iter().map(|r| r.id.as_str()).collect();
            prop_assert_eq!(got, want);

            // Cursors.
            let mut walked: Vec<String> = Vec::new();
            let mut cursor = Some(String::new());
            while let Some(c) = cursor {
                let page = s
                    .list(
                        t,
                        kind,
                        &Query {
                            cursor: Some(c),
                            count: size,
                            ..q.clone()
                        },
                    )
                    .await
                    .unwrap();
                prop_assert_eq!(page.total as usize, expected.len());
                walked.extend(page.resources.into_iter().map(|r| r.id));
                cursor = page.next_cursor;
                prop_assert!(walked.len() <= expected.len());
            }
            prop_assert_eq!(
                walked,
                expected.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sql_and_in_memory_orders_agree_and_pages_cover_them(
        specs in prop::collection::vec(spec(), 0..14),
        filter in prop::option::of(filter_tree()),
        sort in prop::sample::select(SORTS),
        desc in prop::bool::ANY,
        size in 1u64..5,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check_sorted(specs, filter, sort, desc, size))?;
    }
}
