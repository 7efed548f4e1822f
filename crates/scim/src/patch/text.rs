//! A PATCH applied to a stored document's JSON text, rewriting only the top-level attributes
//! its operations name.
//!
//! Entra changes one attribute per operation, and a user's document holds some forty values.
//! Parsing the whole stored document, copying it, validating every attribute again and
//! serialising all of it back cost two thirds of a PATCH on the writer. Here the stored text is
//! split into its top-level members without building them; the members the operations name
//! (and `schemas`) are parsed, patched and validated as [`apply_with`](super::apply_with) would
//! (validation's [`Mode::Part`]); the others are copied into the new text as they were. The
//! result is the text [`apply_with`](super::apply_with) and serialisation give, in the same
//! canonical member order (a property test holds the two paths to that).
//!
//! Whenever that cannot be told from the text alone (a stored key that is not a schema's
//! canonical name, a path that resolves to nothing, which must fail as the whole-document path
//! fails it), [`apply_to_text`] answers `None` and the caller takes the whole-document path.

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{Operation, apply_validated};
use crate::error::Error;
use crate::path::AttrPath;
use crate::schema::{Registry, ResourceType, common_attribute};
use crate::validate::{Limits, Mode};

/// What [`apply_to_text`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum TextOutcome {
    /// The operations leave the resource as it is: no new version is due.
    Unchanged,
    Changed(Rewritten),
}

/// A stored document with some of its top-level attributes rewritten.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewritten {
    /// The new document's JSON text.
    pub text: String,
    /// The rewritten top-level members as they were stored, `schemas` among them, as an
    /// object. Every member outside `before` and `after` is the same in both texts.
    pub before: Value,
    /// The same members as they are now (absent when the PATCH unassigned them).
    pub after: Value,
}

/// Applies `ops` to the resource whose stored JSON text is `stored`, as
/// [`apply_with`](super::apply_with) does to its parsed document, and answers the new text.
/// `None`: the text path does not apply; parse the document and use `apply_with`, which gives
/// the same result or the same error.
pub fn apply_to_text(
    registry: &Registry,
    rt: &ResourceType,
    stored: &str,
    ops: &[Operation],
    limits: &Limits,
) -> Result<Option<TextOutcome>, Error> {
    let Some(touched) = touched(registry, rt, ops) else {
        return Ok(None);
    };
    let Some(order) = Order::of(registry, rt) else {
        return Ok(None);
    };
    let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(stored) else {
        return Ok(None);
    };
    let mut before = Map::new();
    let mut kept: Vec<(usize, &str, &RawValue)> = Vec::with_capacity(members.len());
    let mut seen = vec![false; order.len()];
    for (key, raw) in members {
        let Some(rank) = order.rank(key) else {
            return Ok(None);
        };
        if std::mem::replace(&mut seen[rank], true) {
            return Ok(None);
        }
        if touched.contains(&key) {
            let Ok(value) = serde_json::from_str(raw.get()) else {
                return Ok(None);
            };
            before.insert(key.to_owned(), value);
        } else {
            kept.push((rank, key, raw));
        }
    }
    let before = Value::Object(before);
    let names: Vec<&str> = kept.iter().map(|&(_, key, _)| key).collect();
    let mode = Mode::Part {
        existing: &before,
        kept: &names,
    };
    let (after, changed) = apply_validated(registry, rt, &before, ops, mode, limits)?;
    if !changed {
        return Ok(Some(TextOutcome::Unchanged));
    }
    let Value::Object(rewritten) = &after else {
        return Ok(None);
    };
    // Validation writes members in canonical order, and a stored document is in that order
    // too; merging the two by rank gives the order validating the whole would.
    let mut parts: Vec<(usize, &str, Part<'_>)> = Vec::with_capacity(kept.len() + rewritten.len());
    for (key, value) in rewritten {
        let Some(rank) = order.rank(key) else {
            return Ok(None);
        };
        parts.push((rank, key, Part::New(value)));
    }
    parts.extend(
        kept.into_iter()
            .map(|(rank, key, raw)| (rank, key, Part::Kept(raw))),
    );
    parts.sort_by_key(|&(rank, _, _)| rank);
    // Written as a `String` throughout: through a byte buffer, checking the result's UTF-8
    // cost more than writing it. Keys are schema names, which need no escaping (`rank` found
    // each among them), but are escaped all the same if they ever do.
    let mut text = String::with_capacity(stored.len() + 64);
    text.push('{');
    for (i, (_, key, part)) in parts.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            text.push('"');
            text.push_str(key);
            text.push('"');
        } else {
            text.push_str(&serde_json::to_string(key).map_err(serialise)?);
        }
        text.push(':');
        match part {
            Part::New(value) => text.push_str(&serde_json::to_string(value).map_err(serialise)?),
            Part::Kept(raw) => text.push_str(raw.get()),
        }
    }
    text.push('}');
    Ok(Some(TextOutcome::Changed(Rewritten {
        text,
        before,
        after,
    })))
}

fn serialise(e: impl std::fmt::Display) -> Error {
    Error::InvalidValue(format!("the patched resource does not serialise: {e}"))
}

enum Part<'a> {
    New(&'a Value),
    Kept(&'a RawValue),
}

/// The top-level keys the operations can change, spelled as the schemas spell them: attribute
/// names, and the URN of an extension whose attribute they name (an extension's attributes
/// live in one member). `schemas` is always among them, since an extension's arrival or
/// departure changes it. `None` when a path resolves to nothing.
fn touched<'r>(
    registry: &'r Registry,
    rt: &'r ResourceType,
    ops: &[Operation],
) -> Option<Vec<&'r str>> {
    let mut keys = vec!["schemas"];
    let mut add = |path: &AttrPath| -> Option<()> {
        let found = registry.resolve(rt, path)?;
        let key = if found.extension {
            found.schema?
        } else {
            found.attr.name.as_str()
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
        Some(())
    };
    for op in ops {
        match (&op.path, &op.value) {
            (Some(path), _) => add(&path.attr)?,
            (None, Some(Value::Object(attrs))) => {
                for (key, value) in attrs {
                    if key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    match registry
                        .schema_urns(rt)
                        .find(|u| u.eq_ignore_ascii_case(key))
                    {
                        Some(urn) => match value {
                            Value::Object(inner) => {
                                for name in inner.keys() {
                                    add(&AttrPath::parse(&format!("{urn}:{name}")).ok()?)?;
                                }
                            }
                            Value::Null => {}
                            _ => return None,
                        },
                        None => add(&AttrPath::parse(key).ok()?)?,
                    }
                }
            }
            _ => return None,
        }
    }
    Some(keys)
}

/// The canonical order of a resource's top-level members, as validation writes them:
/// `schemas`, the common attributes, the core schema's attributes in its order, then the
/// extensions in the resource type's order.
struct Order<'r> {
    core: &'r [crate::schema::Attribute],
    extensions: &'r [crate::schema::SchemaExtension],
}

const LEADING: [&str; 4] = ["schemas", "id", "externalId", "meta"];

impl<'r> Order<'r> {
    fn of(registry: &'r Registry, rt: &'r ResourceType) -> Option<Order<'r>> {
        let core = registry.schema(&rt.schema)?;
        Some(Order {
            core: &core.attributes,
            extensions: &rt.schema_extensions,
        })
    }

    fn len(&self) -> usize {
        LEADING.len() + self.core.len() + self.extensions.len()
    }

    /// The member's place; `None` for a key that is not a canonical name (validation would
    /// rewrite it).
    fn rank(&self, key: &str) -> Option<usize> {
        if let Some(i) = LEADING.iter().position(|k| *k == key) {
            return Some(i);
        }
        if common_attribute(key).is_some() {
            return None;
        }
        if let Some(i) = self.core.iter().position(|a| a.name == key) {
            return Some(LEADING.len() + i);
        }
        let i = self.extensions.iter().position(|e| e.schema == key)?;
        Some(LEADING.len() + self.core.len() + i)
    }
}

/// A JSON object's members, in order, their values left as text.
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Each)
    }
}

#[cfg(test)]
mod tests {
    //! The text path against the whole-document path: same text, same "unchanged", same error.

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::messages::PatchRequest;
    use crate::patch::{apply_with, parse_operations};
    use crate::urn;

    const ENT: &str = urn::ENTERPRISE_USER;

    fn user(which: u8) -> Value {
        let mut u = json!({
            "schemas": [urn::USER],
            "userName": "bjensen@example.com",
        });
        if which >= 1 {
            u["externalId"] = json!("701984");
            u["name"] = json!({"givenName": "Barbara", "familyName": "Jensen", "middleName": "J"});
            u["displayName"] = json!("Babs Jensen");
            u["title"] = json!("Tour Guide");
            u["active"] = json!(true);
            u["emails"] = json!([
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ]);
            u["phoneNumbers"] = json!([{"value": "555-555-8377", "type": "work"}]);
        }
        if which >= 2 {
            u["schemas"] = json!([urn::USER, ENT]);
            u[ENT] = json!({
                "employeeNumber": "701984",
                "costCenter": "4130",
                "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            });
        }
        u
    }

    /// The document as a store holds it: validated, without `id` and `meta`.
    fn stored(which: u8) -> Value {
        let registry = Registry::rfc7643();
        let rt = registry.resource_type("User").unwrap();
        crate::validate::validate(&registry, rt, &user(which), Mode::Create).unwrap()
    }

    fn ops_of(ops: &Value) -> Vec<Operation> {
        let req: PatchRequest = crate::messages::from_value(json!({
            "schemas": [urn::PATCH_OP],
            "Operations": ops,
        }))
        .unwrap();
        parse_operations(&req).unwrap()
    }

    /// `Ok(None)`: unchanged; `Ok(Some(text))`: the new text.
    type Result2 = std::result::Result<Option<String>, Error>;

    fn whole(doc: &Value, ops: &[Operation]) -> Result2 {
        let registry = Registry::rfc7643();
        let rt = registry.resource_type("User").unwrap();
        let out = apply_with(&registry, rt, doc, ops, &Limits::default())?;
        if !out.changed || crate::json_eq(&out.resource, doc) {
            return Ok(None);
        }
        Ok(Some(serde_json::to_string(&out.resource).unwrap()))
    }

    /// `None` when the text path declines.
    fn by_text(text: &str, ops: &[Operation]) -> Option<Result2> {
        let registry = Registry::rfc7643();
        let rt = registry.resource_type("User").unwrap();
        match apply_to_text(&registry, rt, text, ops, &Limits::default()) {
            Err(e) => Some(Err(e)),
            Ok(None) => None,
            Ok(Some(TextOutcome::Unchanged)) => Some(Ok(None)),
            Ok(Some(TextOutcome::Changed(r))) => {
                let old: Value = serde_json::from_str(text).unwrap();
                let new: Value = serde_json::from_str(&r.text).unwrap();
                // What the store indexes comes from `before` and `after`: every member
                // outside them is unchanged.
                for (key, value) in old.as_object().unwrap() {
                    if r.before.get(key).is_none() {
                        assert_eq!(new.get(key), Some(value), "{key} outside `before` changed");
                    }
                }
                for (key, value) in new.as_object().unwrap() {
                    if r.after.get(key).is_none() {
                        assert_eq!(old.get(key), Some(value), "{key} outside `after` changed");
                    }
                }
                Some(Ok(Some(r.text)))
            }
        }
    }

    fn same(which: u8, ops: &Value) -> Option<Result2> {
        let doc = stored(which);
        let text = serde_json::to_string(&doc).unwrap();
        let ops = ops_of(ops);
        let got = by_text(&text, &ops)?;
        assert_eq!(got, whole(&doc, &ops), "ops {ops:?} on user {which}");
        Some(got)
    }

    #[test]
    fn one_attribute_is_rewritten_and_the_rest_copied() {
        let doc = stored(2);
        let text = serde_json::to_string(&doc).unwrap();
        let ops = ops_of(&json!([{"op": "Replace", "path": "title", "value": "Guide"}]));
        let registry = Registry::rfc7643();
        let rt = registry.resource_type("User").unwrap();
        let Some(TextOutcome::Changed(r)) =
            apply_to_text(&registry, rt, &text, &ops, &Limits::default()).unwrap()
        else {
            panic!("expected a change");
        };
        assert_eq!(
            r.before,
            json!({"schemas": [urn::USER, ENT], "title": "Tour Guide"})
        );
        assert_eq!(
            r.after,
            json!({"schemas": [urn::USER, ENT], "title": "Guide"})
        );
        assert_eq!(r.text, text.replace("Tour Guide", "Guide"));
    }

    #[test]
    fn the_forms_clients_send_agree_with_the_whole_document() {
        let cases = [
            json!([{"op": "Replace", "path": "title", "value": "Guide"}]),
            json!([{"op": "Replace", "path": "title", "value": "Tour Guide"}]),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            json!([{"op": "Add", "path": "nickName", "value": "Babs"}]),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@x.org"}]),
            json!([{"op": "Add", "path": "emails[type eq \"other\"].value", "value": "o@x.org"}]),
            json!([{"op": "Remove", "path": "emails[type eq \"home\"]"}]),
            json!([{"op": "Replace", "path": "name.givenName", "value": "Barb"}]),
            json!([{"op": "Replace", "value": {"displayName": "B", "name.familyName": "J"}}]),
            json!([{"op": "Replace", "path": format!("{ENT}:department"), "value": "Ops"}]),
            json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "42"}]),
            json!([{"op": "Remove", "path": format!("{ENT}:manager")}]),
            json!([
                {"op": "Remove", "path": format!("{ENT}:employeeNumber")},
                {"op": "Remove", "path": format!("{ENT}:costCenter")},
                {"op": "Remove", "path": format!("{ENT}:department")},
                {"op": "Remove", "path": format!("{ENT}:manager")},
            ]),
            json!([{"op": "Add", "value": {ENT: {"division": "Ops"}}}]),
            json!([{"op": "Add", "value": {format!("{ENT}:division"): "Ops"}}]),
            json!([{"op": "Replace", "value": {"id": "x", "schemas": [urn::USER], "title": "T"}}]),
            json!([{"op": "Replace", "path": "userName", "value": "babs"}]),
            json!([{"op": "Replace", "path": "externalId", "value": "9"}]),
            json!([{"op": "Remove", "path": "userName"}]),
            json!([{"op": "Replace", "path": "id", "value": "x"}]),
            json!([{"op": "Replace", "path": "displayName", "value": 5}]),
            json!([{"op": "Remove", "path": "emails"}]),
            json!([{"op": "Replace", "path": "title", "value": null}]),
        ];
        for which in 0..3 {
            for ops in &cases {
                assert!(same(which, ops).is_some(), "declined {ops} on user {which}");
            }
        }
    }

    #[test]
    fn unknown_paths_and_keys_take_the_whole_document_path() {
        assert_eq!(
            same(1, &json!([{"op": "Add", "path": "nosuch", "value": "x"}])),
            None
        );
        let doc = serde_json::to_string(&json!({"schemas": [urn::USER], "USERNAME": "b"})).unwrap();
        let ops = ops_of(&json!([{"op": "Replace", "path": "title", "value": "T"}]));
        assert_eq!(by_text(&doc, &ops), None);
    }

    fn op() -> impl Strategy<Value = Value> {
        let text = "[a-z]{1,6}";
        let paths = prop::sample::select(vec![
            "title".to_owned(),
            "nickName".to_owned(),
            "displayName".to_owned(),
            "userName".to_owned(),
            "externalId".to_owned(),
            "active".to_owned(),
            "name.givenName".to_owned(),
            "name.middleName".to_owned(),
            "emails".to_owned(),
            "emails[type eq \"work\"].value".to_owned(),
            "emails[type eq \"home\"]".to_owned(),
            "phoneNumbers".to_owned(),
            format!("{ENT}:department"),
            format!("{ENT}:manager"),
            format!("{ENT}:manager.value"),
            format!("{ENT}:employeeNumber"),
            format!("{ENT}:costCenter"),
        ]);
        let kinds = prop::sample::select(vec!["add", "replace", "remove"]);
        let values = prop_oneof![
            text.prop_map(Value::String),
            Just(Value::Null),
            Just(json!(true)),
            Just(json!("False")),
            text.prop_map(|v| json!([{"value": format!("{v}@x.org"), "type": "work"}])),
            text.prop_map(|v| json!({"value": v})),
        ];
        (kinds, paths, values, any::<bool>()).prop_map(|(kind, path, value, by_path)| {
            if kind == "remove" {
                json!({"op": kind, "path": path})
            } else if by_path {
                json!({"op": kind, "path": path, "value": value})
            } else {
                json!({"op": kind, "value": {path: value}})
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn text_and_whole_document_agree(
            which in 0u8..3,
            ops in prop::collection::vec(op(), 1..4),
        ) {
            let doc = stored(which);
            let text = serde_json::to_string(&doc).unwrap();
            let req: PatchRequest = crate::messages::from_value(json!({
                "schemas": [urn::PATCH_OP],
                "Operations": ops,
            })).unwrap();
            // Requests parsing refuses never reach either path.
            let Ok(ops) = parse_operations(&req) else { return Ok(()) };
            let Some(got) = by_text(&text, &ops) else { return Ok(()) };
            prop_assert_eq!(got, whole(&doc, &ops));
        }
    }
}
