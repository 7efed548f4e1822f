//! From a stored resource to the JSON a client receives: `id`, `meta`, members and groups
//! joined in, then the `attributes`/`excludedAttributes` projection.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use scim::project::Projection;
use scim::schema::{Attribute, ResourceType, Returned};
use serde_json::{Map, Value, json};
use store::{Load, Stored};
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
    let mut out = String::new();
    write_resource(&mut out, state, stored, rt, base, projection);
    out
}

/// [`resource_text`] appended to `out`, so a list writes every resource into one buffer.
pub fn write_resource(
    out: &mut String,
    state: &AppState,
    stored: &Stored,
    rt: &ResourceType,
    base: &str,
    projection: &Projection,
) {
    if !splice(out, state, stored, rt, base, projection) {
        let value = resource(state, stored, rt, base, projection);
        out.push_str(&serde_json::to_string(&value).unwrap_or_default());
    }
}

/// The stored resource with its document parsed, when the store left it as text.
fn parsed(stored: &Stored) -> Cow<'_, Stored> {
    match &stored.raw {
        Some(text) if stored.doc.is_null() => Cow::Owned(Stored {
            // The store wrote this text from a `Value`; it only fails to parse if the database
            // was edited by hand, and the resource then shows its id and meta alone.
            doc: serde_json::from_str(text).unwrap_or(Value::Null),
            raw: None,
            ..stored.clone()
        }),
        _ => Cow::Borrowed(stored),
    }
}

/// Writes the response around the stored text; false (nothing written) when the default
/// projection would change the document: it names an attribute returned `never` or `request`
/// (such as `password`), or holds an empty extension object (which projection drops). The check
/// is on the text, conservatively: a value that merely spells such a name takes the slow path
/// too. Stored documents come from validation, so their keys carry the schema's spelling.
fn splice(
    out: &mut String,
    state: &AppState,
    stored: &Stored,
    rt: &ResourceType,
    base: &str,
    projection: &Projection,
) -> bool {
    let Some(raw) = stored.raw.as_deref() else {
        return false;
    };
    static EMPTY_OBJECT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b":{}"));
    if !projection.is_all()
        || EMPTY_OBJECT.find(raw.as_bytes()).is_some()
        || names_hidden(state, rt, raw)
    {
        return false;
    }
    // `schemas` first, then `id`, then the rest in stored order, as the rendered form has them.
    let Some((schemas, rest)) = split_schemas(raw) else {
        return false;
    };
    out.reserve(raw.len() + 400);
    out.push_str("{\"schemas\":");
    out.push_str(schemas);
    out.push_str(",\"id\":");
    push_json_str(out, &stored.id);
    if !rest.is_empty() {
        out.push(',');
        out.push_str(rest);
    }
    for (name, value) in [
        ("members", members_value(stored, base)),
        ("groups", groups_value(stored, base)),
    ] {
        if let Some(value) = value {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
            out.push_str(&value.to_string());
        }
    }
    out.push_str(",\"meta\":{\"resourceType\":");
    push_json_str(out, &rt.name);
    out.push_str(",\"created\":");
    push_time(out, stored.created);
    out.push_str(",\"lastModified\":");
    push_time(out, stored.last_modified);
    // `location` and `version` written in place rather than formatted into strings first.
    out.push_str(",\"location\":\"");
    push_json_inner(out, base);
    push_json_inner(out, &rt.endpoint);
    out.push('/');
    push_json_inner(out, &stored.id);
    out.push_str("\",\"version\":\"W/\\\"");
    let _ = write!(out, "{}", stored.version);
    out.push_str("\\\"\"}}");
    true
}

/// The stored text's `schemas` array and the members after it (without the closing brace).
/// Validation writes `schemas` first, and its URNs (from the registry) hold no `]` or escapes;
/// a document in any other shape is rendered from its parsed form instead.
fn split_schemas(raw: &str) -> Option<(&str, &str)> {
    const HEAD: &str = "{\"schemas\":";
    let after = raw.strip_prefix(HEAD)?.strip_prefix('[')?;
    let end = after.find(']')?;
    if after[..end].contains('\\') {
        return None;
    }
    let schemas = &raw[HEAD.len()..=HEAD.len() + 1 + end];
    let rest = after[end + 1..].strip_suffix('}')?;
    Some((schemas, rest.strip_prefix(',').unwrap_or(rest)))
}

/// What a default response of one resource type needs, worked out once from the registry.
#[derive(Debug)]
pub(crate) struct TypeInfo {
    /// Finders of `"name"`, quotes included, for every attribute and sub-attribute whose
    /// `returned` keeps it out of a default response.
    hidden: Vec<Finder<'static>>,
    /// What the default projection loads beside the document.
    pub(crate) default_load: Load,
}

impl TypeInfo {
    /// Whether `raw` has the name of one of those attributes as a quoted string.
    fn hides(&self, raw: &str) -> bool {
        self.hidden.iter().any(|f| f.find(raw.as_bytes()).is_some())
    }
}

/// [`TypeInfo`] per resource type id.
pub(crate) fn type_infos(registry: &scim::Registry) -> HashMap<String, TypeInfo> {
    fn walk(attrs: &[Attribute], out: &mut Vec<Finder<'static>>) {
        for a in attrs {
            if matches!(a.returned, Returned::Never | Returned::Request) {
                out.push(Finder::new(format!("\"{}\"", a.name).as_bytes()).into_owned());
            }
            walk(&a.sub_attributes, out);
        }
    }
    registry
        .resource_types()
        .iter()
        .map(|rt| {
            let mut hidden = Vec::new();
            let urns = std::iter::once(rt.schema.as_str())
                .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()));
            for schema in urns.filter_map(|urn| registry.schema(urn)) {
                walk(&schema.attributes, &mut hidden);
            }
            let default_load = load_with(registry, rt, &Projection::default());
            (
                rt.id.clone(),
                TypeInfo {
                    hidden,
                    default_load,
                },
            )
        })
        .collect()
}

/// What to load beside the document so the projection can be answered, and nothing more:
/// `excludedAttributes=members` never reads the membership table.
pub(crate) fn load_with(
    registry: &scim::Registry,
    rt: &ResourceType,
    projection: &Projection,
) -> Load {
    Load {
        members: crate::service::has_members(rt) && projection.includes(registry, rt, "members"),
        groups: rt.schema == scim::urn::USER && projection.includes(registry, rt, "groups"),
        // Only the default projection can pass the stored text on (see `resource_text`).
        raw: projection.is_all(),
    }
}

/// [`load_with`], from the state's table for the default projection.
pub(crate) fn load_for(state: &AppState, rt: &ResourceType, projection: &Projection) -> Load {
    match state.types.get(&rt.id) {
        Some(info) if projection.is_all() => info.default_load,
        _ => load_with(&state.registry, rt, projection),
    }
}

/// Whether `raw` has, as a quoted string, the name of an attribute of the resource type whose
/// `returned` keeps it out of a default response. A type the state does not know is assumed to
/// have some.
fn names_hidden(state: &AppState, rt: &ResourceType, raw: &str) -> bool {
    match state.types.get(&rt.id) {
        Some(info) => info.hides(raw),
        None => true,
    }
}

/// `s` as a JSON string.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_inner(out, s);
    out.push('"');
}

/// An RFC 3339 time as a JSON string (an empty string if the time has no RFC 3339 form, as
/// `format(..).unwrap_or_default()` gives).
fn push_time(out: &mut String, t: time::OffsetDateTime) {
    out.push('"');
    push_formatted(out, t, &Rfc3339);
    out.push('"');
}

/// `t` in `format`, formatted on the stack instead of into a string of its own; nothing if it
/// does not fit 64 bytes or has no such form.
pub fn push_formatted(
    out: &mut String,
    t: time::OffsetDateTime,
    format: &(impl time::formatting::Formattable + ?Sized),
) {
    let mut buf = [0u8; 64];
    let mut w = &mut buf[..];
    // What was written is what the writer moved past (`format_into`'s count falls short of it
    // for fractional seconds).
    let n = match t.format_into(&mut w, format) {
        Ok(_) => 64 - w.len(),
        Err(_) => 0,
    };
    out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default());
}

/// `s` escaped for the inside of a JSON string.
pub fn push_json_inner(out: &mut String, s: &str) {
    // Ids, names, times and URLs rarely need escaping: copied whole when they do not.
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_like_serde_json() {
        for s in [
            "plain",
            "quote \" and \\ slash",
            "tab\tnew\nline\u{1}",
            "é😀/",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn schemas_split_off_the_stored_text() {
        let (s, rest) = split_schemas(r#"{"schemas":["a:b","c:d"],"userName":"x"}"#).unwrap();
        assert_eq!((s, rest), (r#"["a:b","c:d"]"#, r#""userName":"x""#));
        let (s, rest) = split_schemas(r#"{"schemas":["a:b"]}"#).unwrap();
        assert_eq!((s, rest), (r#"["a:b"]"#, ""));
        // Any other shape is rendered from the parsed document.
        assert_eq!(split_schemas(r#"{"userName":"x","schemas":["a"]}"#), None);
        assert_eq!(split_schemas(r#"{"schemas":["a\"]"]}"#), None);
    }

    #[test]
    fn times_are_written_as_time_formats_them() {
        use time::macros::datetime;
        for t in [
            datetime!(2026-12-07 07:39:51.852 UTC),
            datetime!(2026-12-07 07:39:51 UTC),
            datetime!(2026-01-01 00:00:00.000_001 UTC),
        ] {
            let mut out = String::new();
            push_time(&mut out, t);
            assert_eq!(out, format!("\"{}\"", t.format(&Rfc3339).unwrap()));
        }
    }

    #[test]
    fn hidden_names_are_found_only_between_quotes() {
        let registry = scim::Registry::rfc7643();
        let infos = type_infos(&registry);
        let user = &infos["User"];
        assert!(user.hides(r#"{"password":"x"}"#));
        assert!(!user.hides(r#"{"title":"passwords"}"#));
        assert!(user.hides(r#"{"nickName":"password"}"#));
        assert!(user.default_load.groups && !user.default_load.members);
        assert!(infos["Group"].default_load.members);
    }
}
