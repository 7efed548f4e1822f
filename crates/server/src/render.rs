//! From a stored resource to the JSON a client receives: `id`, `meta`, members and groups
//! joined in, then the `attributes`/`excludedAttributes` projection.

use scim::project::Projection;
use scim::schema::ResourceType;
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
            out.insert("members".into(), Value::Array(list));
        }
    }
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
            out.insert("groups".into(), Value::Array(list));
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": rt.name,
            "created": stored.created.format(&Rfc3339).unwrap_or_default(),
            "lastModified": stored.last_modified.format(&Rfc3339).unwrap_or_default(),
            "location": location(base, rt, &stored.id),
            "version": etag(stored.version),
        }),
    );
    Value::Object(out)
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
    let full = full(stored, rt, base);
    scim::project::project(&full, &state.registry, rt, projection)
}
