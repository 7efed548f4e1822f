//! What both backends do the same way with a resource row: its document, its `meta` times,
//! the indexed columns derived from the document, resource-type names, preconditions and the
//! uniqueness error. Kept apart from the SQL so the two backends cannot drift apart on them.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::plan;
use crate::{NewDoc, Precondition, Result, StoreError, Stored};

/// A new resource's `id`: a UUIDv7. Its first 48 bits are the creation time in milliseconds,
/// so new ids sort after the existing ones and the unique index on ids grows at its end (one
/// page per batch of creates) instead of dirtying a random page per create; the remaining 74
/// bits are random, so an id cannot be guessed from another. Clients treat ids as opaque
/// (RFC 7643 §3.1).
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The resource columns every list and read selects, in this order.
pub(crate) const COLS: &str = "r.pk, r.kind, r.id, r.version, r.created, r.last_modified, r.doc";

/// A resource row as read, before its document is parsed.
pub(crate) struct RowData {
    pub(crate) pk: i64,
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) version: i64,
    pub(crate) created: i64,
    pub(crate) last_modified: i64,
    pub(crate) doc: String,
}

impl RowData {
    pub(crate) fn into_stored(self) -> Result<(i64, Stored)> {
        self.into_stored_as(false)
    }

    /// With `raw`, the document's text goes to [`Stored::raw`] unparsed.
    pub(crate) fn into_stored_as(self, raw: bool) -> Result<(i64, Stored)> {
        let (doc, raw) = if raw {
            (Value::Null, Some(self.doc))
        } else {
            let doc = parse_doc(&self.id, &self.doc)?;
            (doc, None)
        };
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
                raw,
            },
        ))
    }
}

pub(crate) fn from_ms(ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Database(format!("stored time {ms} is out of range: {e}")))
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The resource as the filter evaluator sees it: the document plus `id`, `meta` and, when
/// loaded, `members`/`groups`.
pub(crate) fn resource_json(s: &Stored) -> Value {
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

/// A new document about to be written: its text, its indexed columns and the ones it
/// replaces.
pub(crate) struct DocWrite {
    pub(crate) old: Indexed,
    pub(crate) new: Indexed,
    pub(crate) text: String,
    /// The new document, parsed; null when it was made as text ([`NewDoc::Rewritten`]).
    pub(crate) doc: Value,
}

impl DocWrite {
    /// `None` when `doc` leaves the stored document as it is.
    pub(crate) fn of(
        kind: &str,
        doc: Option<NewDoc>,
        current: &Stored,
    ) -> Result<Option<DocWrite>> {
        match doc {
            None => Ok(None),
            Some(NewDoc::Whole(doc)) => {
                let old = match (&current.raw, &current.doc) {
                    // Handed over as text and answered with a whole document: the stored one is
                    // parsed here to compare them.
                    (Some(text), Value::Null) => Cow::Owned(parse_doc(&current.id, text)?),
                    (_, doc) => Cow::Borrowed(doc),
                };
                if scim::json_eq(&doc, &old) {
                    return Ok(None);
                }
                let text = serde_json::to_string(&doc).map_err(|e| {
                    StoreError::Database(format!("document does not serialise: {e}"))
                })?;
                Ok(Some(DocWrite {
                    old: Indexed::of(kind, &old),
                    new: Indexed::of(kind, &doc),
                    text,
                    doc,
                }))
            }
            // Every member outside `before` and `after` is the same in both texts, so the
            // indexed columns drawn from those two alone differ exactly where the documents'
            // do.
            Some(NewDoc::Rewritten(r)) => Ok(Some(DocWrite {
                old: Indexed::of(kind, &r.before),
                new: Indexed::of(kind, &r.after),
                text: r.text,
                doc: Value::Null,
            })),
        }
    }
}

fn parse_doc(id: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Database(format!("stored document of {id} is not JSON: {e}")))
}

/// The indexed columns of a document.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Indexed {
    pub(crate) external_id: Option<String>,
    /// The unique name as written (`userName` / group `displayName`).
    pub(crate) name: Option<String>,
    pub(crate) display_lc: Option<String>,
    pub(crate) active: Option<bool>,
    pub(crate) emails: BTreeSet<String>,
}

impl Indexed {
    pub(crate) fn of(kind: &str, doc: &Value) -> Indexed {
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

    pub(crate) fn name_lc(&self) -> Option<String> {
        self.name.as_deref().map(plan::fold)
    }
}

/// The attribute whose uniqueness the `name_lc` index enforces for a type.
pub(crate) fn unique_attr(kind: &str) -> &'static str {
    if kind == "User" {
        "userName"
    } else {
        "displayName"
    }
}

/// The SCIM uniqueness error for a name the unique index refused.
pub(crate) fn taken(kind: &str, ix: &Indexed) -> StoreError {
    StoreError::Uniqueness(format!(
        "{} '{}' is already taken",
        unique_attr(kind),
        ix.name.as_deref().unwrap_or_default()
    ))
}

/// Maps PostgreSQL's unique-index violation on the name (it names the index) to the SCIM
/// uniqueness error.
pub(crate) fn write_error(e: sqlx::Error, kind: &str, ix: &Indexed) -> StoreError {
    if let Some(db) = e.as_database_error()
        && db.is_unique_violation()
        && db.constraint() == Some("resources_by_name")
    {
        return taken(kind, ix);
    }
    e.into()
}

pub(crate) fn check(precondition: Precondition, current: i64) -> Result<()> {
    match precondition {
        Precondition::Version(v) if v != current => Err(StoreError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}

/// Resource-type names as the registry spells them.
#[derive(Debug, Clone)]
pub(crate) struct Kinds(pub(crate) std::sync::Arc<scim::Registry>);

impl Kinds {
    /// The canonical id of a resource type (`user` → `User`).
    pub(crate) fn kind(&self, kind: &str) -> Option<String> {
        match self.0.resource_type(kind) {
            Some(rt) => Some(rt.id.clone()),
            None => ["User", "Group"]
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(kind))
                .map(str::to_owned),
        }
    }

    pub(crate) fn known_kind(&self, kind: &str) -> Result<String> {
        self.kind(kind).ok_or_else(|| {
            StoreError::Scim(scim::Error::InvalidValue(format!(
                "unknown resource type '{kind}'"
            )))
        })
    }

    pub(crate) fn all_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .0
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

    /// Whether `stored` (with its id and meta) satisfies `filter`; a type the registry does
    /// not know matches nothing, as an unknown attribute does.
    pub(crate) fn matches(&self, filter: &crate::Filter, stored: &Stored) -> bool {
        match self.0.resource_type(&stored.kind) {
            Some(rt) => filter.matches(&resource_json(stored), &self.0, rt),
            None => false,
        }
    }
}
