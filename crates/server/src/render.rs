//! From a stored resource to the JSON a client receives: `id`, `meta`, members and groups
//! joined in, then the `attributes`/`excludedAttributes` projection.

use std::borrow::Cow;

use scim::project::Projection;
use scim::schema::{Attribute, ResourceType, Returned};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use store::Stored;
use time::format_description::well_known::Rfc3339;

use crate::AppState;

/// `W/"<version>"`: weak, because two equal versions are semantically, not byte-, identical
/// (projection and key order vary).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The version an `If-Match`/`If-None-Match` entity tag names, if it is one of ours.
pub fn parse_etag(tag: &str) -> Option<i64> {
    let t = tag.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// The full resource document, before projection.
pub fn full(stored: &Stored, rt: &ResourceType, base: &str) -> Value {
    let mut out = Map::new();
    let doc = stored.doc.as_object();
    if let Some(schemas) = doc.and_then(|d| d.get("schemas")) {
        out.insert("schemas".into(), schemas.clone());
    } else {
        out.insert("schemas".into(), json!([rt.schema]));
    }
    out.insert("id".into(), Value::String(stored.id.clone()));
    if let Some(doc) = doc {
        for (k, v) in doc {
            if k != "schemas" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(list) = members_value(stored, base) {
        out.insert("members".into(), list);
    }
    if let Some(list) = groups_value(stored, base) {
        out.insert("groups".into(), list);
    }
    out.insert("meta".into(), meta_value(stored, rt, base));
    Value::Object(out)
}

/// `members` as rendered, `None` when not loaded or empty.
fn members_value(stored: &Stored, base: &str) -> Option<Value> {
    if let Some(members) = &stored.members {
        let list: Vec<Value> = members
            .iter()
            .map(|m| {
                let endpoint = if m.kind == "Group" { "Groups" } else { "Users" };
                let mut e = Map::new();
                e.insert("value".into(), Value::String(m.value.clone()));
                e.insert(
                    "$ref".into(),
                    Value::String(format!("{base}/{endpoint}/{}", m.value)),
                );
                e.insert("type".into(), Value::String(m.kind.clone()));
                if let Some(d) = &m.display {
                    e.insert("display".into(), Value::String(d.clone()));
                }
                Value::Object(e)
            })
            .collect();
        if !list.is_empty() {
            return Some(Value::Array(list));
        }
    }
    None
}

/// `groups` as rendered, `None` when not loaded or empty.
fn groups_value(stored: &Stored, base: &str) -> Option<Value> {
    if let Some(groups) = &stored.groups {
        let list: Vec<Value> = groups
            .iter()
            .map(|g| {
                let mut e = Map::new();
                e.insert("value".into(), Value::String(g.value.clone()));
                e.insert(
                    "$ref".into(),
                    Value::String(format!("{base}/Groups/{}", g.value)),
                );
                if let Some(d) = &g.display {
                    e.insert("display".into(), Value::String(d.clone()));
                }
                e.insert(
                    "type".into(),
                    Value::String(if g.direct { "direct" } else { "indirect" }.into()),
                );
                Value::Object(e)
            })
            .collect();
        if !list.is_empty() {
            return Some(Value::Array(list));
        }
    }
    None
}

fn meta_value(stored: &Stored, rt: &ResourceType, base: &str) -> Value {
    json!({
        "resourceType": rt.name,
        "created": stored.created.format(&Rfc3339).unwrap_or_default(),
        "lastModified": stored.last_modified.format(&Rfc3339).unwrap_or_default(),
        "location": location(base, rt, &stored.id),
        "version": etag(stored.version),
    })
}

/// `{base}/{endpoint}/{id}`.
pub fn location(base: &str, rt: &ResourceType, id: &str) -> String {
    format!("{base}{}/{id}", rt.endpoint)
}

/// The document a client receives: full resource, then projection.
pub fn resource(
    state: &AppState,
    stored: &Stored,
    rt: &ResourceType,
    base: &str,
    projection: &Projection,
) -> Value {
    let stored = parsed(stored);
    let full = full(&stored, rt, base);
    scim::project::project(&full, &state.registry, rt, projection)
}

/// [`resource`] as JSON text. A document the store returned unparsed ([`Stored::raw`]) is
/// spliced into the response as stored when the projection is the default and nothing in it
/// needs projecting away: parsing and re-serialising it was most of a GET's CPU time (profile
/// in BENCHMARKS.md). Either way the client receives the same JSON.
pub fn resource_text(
    state: &AppState,
    stored: &Stored,
    rt: &ResourceType,
    base: &str,
    projection: &Projection,
) -> String {
    if let Some(text) = spliced(state, stored, rt, base, projection) {
        return text;
    }
    serde_json::to_string(&resource(state, stored, rt, base, projection)).unwrap_or_default()
}

/// The stored resource with its document parsed, when the store left it as text.
fn parsed(stored: &Stored) -> Cow<'_, Stored> {
    match &stored.raw {
        None => Cow::Borrowed(stored),
        Some(text) => Cow::Owned(Stored {
            // The store wrote this text from a `Value`; it only fails to parse if the database
            // was edited by hand, and the resource then shows its id and meta alone.
            doc: serde_json::from_str(text).unwrap_or(Value::Null),
            raw: None,
            ..stored.clone()
        }),
    }
}

/// The response text built around the stored text, or `None` when the default projection would
/// change the document: it names an attribute returned `never` or `request` (such as
/// `password`), or holds an empty extension object (which projection drops). The check is on
/// the text, conservatively: a value that merely spells such a name takes the slow path too.
fn spliced(
    state: &AppState,
    stored: &Stored,
    rt: &ResourceType,
    base: &str,
    projection: &Projection,
) -> Option<String> {
    let raw = stored.raw.as_deref()?;
    if !projection.is_all() || raw.contains(":{}") {
        return None;
    }
    let hidden = hidden_names(state, rt);
    if !hidden.is_empty() && names_any(raw, &hidden) {
        return None;
    }
    let fields = serde_json::from_str::<Fields<'_>>(raw).ok()?.0;
    let mut out = String::with_capacity(raw.len() + 512);
    out.push_str("{\"schemas\":");
    match fields.iter().find(|(k, _)| *k == "schemas") {
        Some((_, v)) => out.push_str(v.get()),
        None => out.push_str(&json!([rt.schema]).to_string()),
    }
    out.push_str(",\"id\":");
    out.push_str(&Value::String(stored.id.clone()).to_string());
    for (k, v) in fields.iter().filter(|(k, _)| *k != "schemas") {
        out.push(',');
        out.push_str(&Value::String((*k).to_owned()).to_string());
        out.push(':');
        out.push_str(v.get());
    }
    for (name, value) in [
        ("members", members_value(stored, base)),
        ("groups", groups_value(stored, base)),
        ("meta", Some(meta_value(stored, rt, base))),
    ] {
        if let Some(value) = value {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
            out.push_str(&value.to_string());
        }
    }
    out.push('}');
    Some(out)
}

/// Names (lower-cased) of every attribute and sub-attribute of the resource type whose
/// `returned` keeps it out of a default response.
fn hidden_names(state: &AppState, rt: &ResourceType) -> Vec<String> {
    fn walk(attrs: &[Attribute], out: &mut Vec<String>) {
        for a in attrs {
            if matches!(a.returned, Returned::Never | Returned::Request) {
                out.push(a.name.to_ascii_lowercase());
            }
            walk(&a.sub_attributes, out);
        }
    }
    let mut out = Vec::new();
    let schemas = std::iter::once(rt.schema.as_str())
        .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()));
    for urn in schemas {
        if let Some(schema) = state.registry.schema(urn) {
            walk(&schema.attributes, &mut out);
        }
    }
    out
}

/// Whether any of `names` (lower-case) appears in `text` as a quoted string, ignoring case.
fn names_any(text: &str, names: &[String]) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'"'
            && names.iter().any(|n| {
                let end = i + 1 + n.len();
                end < bytes.len()
                    && bytes[end] == b'"'
                    && bytes[i + 1..end].eq_ignore_ascii_case(n.as_bytes())
            })
    })
}

/// The top-level members of a JSON object, each value left as its raw text. A key with an
/// escape sequence cannot be borrowed and fails the parse, which sends the caller down the
/// slow path.
struct Fields<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}
