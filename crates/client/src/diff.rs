//! The smallest PatchOp that turns one resource into another.
//!
//! The engine keeps what it last wrote to a target and sends only the change, as Entra does:
//! a PATCH that names only changed attributes cannot overwrite what another writer changed in
//! the meantime, and a one-member change to a large group costs one operation, not the group.
//!
//! Rules:
//!
//! * Attribute names compare case-insensitively (RFC 7643 §2.1). `null`, `[]` and absence all
//!   mean unassigned. `id`, `meta`, `schemas` and `groups` are read-only and never sent.
//! * Extension objects (`urn:…:User`) are compared attribute by attribute under URN-qualified
//!   paths.
//! * A changed single-valued complex attribute (`name`) is patched per sub-attribute
//!   (`name.givenName`), so unchanged sub-attributes are not rewritten.
//! * Multi-valued attributes are unordered sets. Where every element has a unique `value`
//!   (emails, members), elements are matched by it: a new element is added, a vanished one
//!   removed by `attr[value eq "…"]`, a changed one replaced under that filter. Sub-attributes
//!   the server adds on its own (`display`, `$ref` of a reference) are ignored when the new
//!   element does not mention them. Group members are removed in Entra's form (`path:
//!   "members"` with the values), which every target built for Entra accepts and which takes
//!   one operation for any number of members. Other arrays are added to when only additions
//!   happened, and replaced whole otherwise.
//! * Removals come before additions, so a filter never hits an element the same request adds.

use scim::Filter;
use scim::messages::{PatchOpKind, PatchOperation, PatchRequest};
use serde_json::{Map, Value};

use crate::filter::attr;

/// Top-level attributes a client never writes.
const READ_ONLY: [&str; 4] = ["id", "meta", "schemas", "groups"];

/// Sub-attributes servers fill in themselves on multi-valued references.
const SERVER_FILLED: [&str; 2] = ["display", "$ref"];

/// Collects PATCH operations, written by hand or computed with [`PatchBuilder::diff`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatchBuilder {
    removals: Vec<PatchOperation>,
    others: Vec<PatchOperation>,
}

impl PatchBuilder {
    pub fn new() -> PatchBuilder {
        PatchBuilder::default()
    }

    pub fn add(mut self, path: &str, value: Value) -> Self {
        self.others.push(PatchOperation::add(Some(path), value));
        self
    }

    pub fn replace(mut self, path: &str, value: Value) -> Self {
        self.others.push(PatchOperation::replace(Some(path), value));
        self
    }

    pub fn remove(mut self, path: &str) -> Self {
        self.removals.push(PatchOperation::remove(path));
        self
    }

    /// The operations that turn `old` into `new` (see the module docs for the rules).
    pub fn diff(old: &Value, new: &Value) -> PatchBuilder {
        let mut b = PatchBuilder::new();
        let empty = Map::new();
        let old = old.as_object().unwrap_or(&empty);
        let new = new.as_object().unwrap_or(&empty);
        b.diff_object(None, old, new);
        b
    }

    pub fn is_empty(&self) -> bool {
        self.removals.is_empty() && self.others.is_empty()
    }

    /// The operations, removals first.
    pub fn operations(&self) -> impl Iterator<Item = &PatchOperation> {
        self.removals.iter().chain(&self.others)
    }

    /// The PatchOp message; `None` when there is nothing to change (a PATCH without
    /// operations is a 400).
    pub fn build(self) -> Option<PatchRequest> {
        if self.is_empty() {
            return None;
        }
        let mut ops = self.removals;
        ops.extend(self.others);
        Some(PatchRequest::new(ops))
    }

    fn diff_object(
        &mut self,
        urn: Option<&str>,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) {
        for (key, new_v) in new {
            if urn.is_none() && is_read_only(key) {
                continue;
            }
            let old_v = get(old, key);
            if urn.is_none()
                && is_urn(key)
                && (new_v.is_object() || old_v.is_some_and(Value::is_object))
            {
                let empty = Map::new();
                self.diff_object(
                    Some(key),
                    old_v.and_then(Value::as_object).unwrap_or(&empty),
                    new_v.as_object().unwrap_or(&empty),
                );
                continue;
            }
            let path = match urn {
                Some(u) => format!("{u}:{key}"),
                None => key.clone(),
            };
            self.diff_attribute(&path, old_v, new_v);
        }
        for (key, old_v) in old {
            if (urn.is_none() && is_read_only(key)) || get(new, key).is_some() {
                continue;
            }
            if urn.is_none() && is_urn(key) && old_v.is_object() {
                self.diff_object(
                    Some(key),
                    old_v.as_object().unwrap_or(&Map::new()),
                    &Map::new(),
                );
                continue;
            }
            if is_assigned(old_v) {
                let path = match urn {
                    Some(u) => format!("{u}:{key}"),
                    None => key.clone(),
                };
                self.removals.push(PatchOperation::remove(&path));
            }
        }
    }

    fn diff_attribute(&mut self, path: &str, old: Option<&Value>, new: &Value) {
        let old = old.filter(|v| is_assigned(v));
        if !is_assigned(new) {
            if old.is_some() {
                self.removals.push(PatchOperation::remove(path));
            }
            return;
        }
        let Some(old) = old else {
            self.others
                .push(PatchOperation::add(Some(path), new.clone()));
            return;
        };
        if same(old, new) {
            return;
        }
        match (old, new) {
            (Value::Object(o), Value::Object(n)) => {
                for (sub, nv) in n {
                    let sub_path = format!("{path}.{sub}");
                    let ov = get(o, sub).filter(|v| is_assigned(v));
                    match (ov, is_assigned(nv)) {
                        (Some(_), false) => self.removals.push(PatchOperation::remove(&sub_path)),
                        (None, false) => {}
                        (Some(ov), true) if same(ov, nv) => {}
                        (_, true) => self
                            .others
                            .push(PatchOperation::replace(Some(&sub_path), nv.clone())),
                    }
                }
                for (sub, ov) in o {
                    if get(n, sub).is_none() && is_assigned(ov) {
                        self.removals
                            .push(PatchOperation::remove(&format!("{path}.{sub}")));
                    }
                }
            }
            (Value::Array(o), Value::Array(n)) => self.diff_multi(path, o, n),
            _ => self
                .others
                .push(PatchOperation::replace(Some(path), new.clone())),
        }
    }

    fn diff_multi(&mut self, path: &str, old: &[Value], new: &[Value]) {
        if let (Some(old_keys), Some(new_keys)) = (unique_values(old), unique_values(new)) {
            let mut removed = Vec::new();
            for (v, o) in old_keys.iter().zip(old) {
                match new_keys.iter().position(|k| k == v) {
                    None => removed.push(v.clone()),
                    Some(i) if element_changed(o, &new[i]) => match value_filter_path(path, v) {
                        Some(p) => self
                            .others
                            .push(PatchOperation::replace(Some(&p), new[i].clone())),
                        None => {
                            self.others.push(PatchOperation::replace(
                                Some(path),
                                Value::Array(new.to_vec()),
                            ));
                            return;
                        }
                    },
                    Some(_) => {}
                }
            }
            let added: Vec<Value> = new_keys
                .iter()
                .zip(new)
                .filter(|(k, _)| !old_keys.contains(k))
                .map(|(_, e)| e.clone())
                .collect();
            if !removed.is_empty() {
                if path.eq_ignore_ascii_case("members") {
                    let values = removed
                        .iter()
                        .map(|v| serde_json::json!({ "value": v }))
                        .collect();
                    self.removals.push(PatchOperation {
                        op: PatchOpKind::Remove,
                        path: Some(path.to_owned()),
                        value: Some(Value::Array(values)),
                    });
                } else {
                    for v in &removed {
                        match value_filter_path(path, v) {
                            Some(p) => self.removals.push(PatchOperation::remove(&p)),
                            None => {
                                self.others.push(PatchOperation::replace(
                                    Some(path),
                                    Value::Array(new.to_vec()),
                                ));
                                return;
                            }
                        }
                    }
                }
            }
            if !added.is_empty() {
                self.others
                    .push(PatchOperation::add(Some(path), Value::Array(added)));
            }
            return;
        }
        let added: Vec<Value> = new
            .iter()
            .filter(|n| !old.iter().any(|o| same(o, n)))
            .cloned()
            .collect();
        let any_removed = old.iter().any(|o| !new.iter().any(|n| same(o, n)));
        if any_removed {
            self.others.push(PatchOperation::replace(
                Some(path),
                Value::Array(new.to_vec()),
            ));
        } else if !added.is_empty() {
            self.others
                .push(PatchOperation::add(Some(path), Value::Array(added)));
        }
    }
}

fn is_read_only(key: &str) -> bool {
    READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(key))
}

fn is_urn(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

fn is_assigned(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => o.values().any(is_assigned),
        _ => true,
    }
}

fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Equality with case-insensitive keys, unassigned members ignored, arrays as sets.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.iter()
                .filter(|(_, v)| is_assigned(v))
                .all(|(k, v)| get(y, k).is_some_and(|w| same(v, w)))
                && y.iter()
                    .filter(|(_, v)| is_assigned(v))
                    .all(|(k, _)| get(x, k).is_some_and(is_assigned))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len()
                && x.iter().all(|v| y.iter().any(|w| same(v, w)))
                && y.iter().all(|w| x.iter().any(|v| same(v, w)))
        }
        _ => a == b,
    }
}

/// Whether the element keyed by the same `value` differs, ignoring sub-attributes the server
/// fills in when the new element leaves them out.
fn element_changed(old: &Value, new: &Value) -> bool {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return !same(old, new);
    };
    let trimmed: Map<String, Value> = o
        .iter()
        .filter(|(k, _)| {
            get(n, k).is_some() || !SERVER_FILLED.iter().any(|s| s.eq_ignore_ascii_case(k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    !same(&Value::Object(trimmed), new)
}

/// The `value` of each element when all are objects with a distinct string `value`.
fn unique_values(elements: &[Value]) -> Option<Vec<String>> {
    let mut keys: Vec<String> = Vec::with_capacity(elements.len());
    for e in elements {
        let v = get(e.as_object()?, "value")?.as_str()?.to_owned();
        if keys.contains(&v) {
            return None;
        }
        keys.push(v);
    }
    Some(keys)
}

/// `path[value eq "v"]`, rendered by the filter AST so the value is escaped.
fn value_filter_path(path: &str, value: &str) -> Option<String> {
    let inner: Filter = attr("value").ok()?.eq(value);
    Some(format!("{path}[{inner}]"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ops(old: Value, new: Value) -> Value {
        match PatchBuilder::diff(&old, &new).build() {
            Some(r) => serde_json::to_value(&r).unwrap()["Operations"].clone(),
            None => json!([]),
        }
    }

    #[test]
    fn nothing_changed_is_no_request() {
        let u = json!({"schemas": ["x"], "id": "1", "userName": "a", "emails": [{"value": "a@x", "type": "work"}]});
        let mut v = u.clone();
        v["meta"] = json!({"version": "W/\"3\""});
        v["emails"] = json!([{"type": "work", "value": "a@x"}]);
        v["USERNAME"] = json!("a");
        v.as_object_mut().unwrap().remove("userName");
        assert_eq!(ops(u, v), json!([]));
    }

    #[test]
    fn simple_and_complex_attributes() {
        let old = json!({"userName": "a", "active": true, "title": "x", "name": {"givenName": "Ann", "familyName": "Lee", "formatted": "Ann Lee"}});
        let new = json!({"userName": "a", "active": false, "nickName": "an", "name": {"givenName": "Anne", "familyName": "Lee", "formatted": null}});
        assert_eq!(
            ops(old, new),
            json!([
                {"op": "remove", "path": "name.formatted"},
                {"op": "remove", "path": "title"},
                {"op": "replace", "path": "active", "value": false},
                {"op": "add", "path": "nickName", "value": "an"},
                {"op": "replace", "path": "name.givenName", "value": "Anne"},
            ])
        );
    }

    #[test]
    fn extension_attributes_use_urn_paths() {
        let e = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let old =
            json!({e: {"employeeNumber": "7", "manager": {"value": "m1", "displayName": "Boss"}}});
        let new =
            json!({e: {"employeeNumber": "8", "manager": {"value": "m2"}, "department": "R&D"}});
        assert_eq!(
            ops(old, new),
            json!([
                {"op": "remove", "path": format!("{e}:manager.displayName")},
                {"op": "replace", "path": format!("{e}:employeeNumber"), "value": "8"},
                {"op": "replace", "path": format!("{e}:manager.value"), "value": "m2"},
                {"op": "add", "path": format!("{e}:department"), "value": "R&D"},
            ])
        );
        assert_eq!(
            ops(json!({e: {"employeeNumber": "7"}}), json!({})),
            json!([{"op": "remove", "path": format!("{e}:employeeNumber")}])
        );
    }

    #[test]
    fn members_are_matched_by_value() {
        let old = json!({"displayName": "g", "members": [
            {"value": "a", "display": "A", "$ref": "https://x/Users/a"},
            {"value": "b", "display": "B"},
            {"value": "c"},
        ]});
        let new = json!({"displayName": "g", "members": [{"value": "a"}, {"value": "d"}]});
        assert_eq!(
            ops(old, new),
            json!([
                {"op": "remove", "path": "members", "value": [{"value": "b"}, {"value": "c"}]},
                {"op": "add", "path": "members", "value": [{"value": "d"}]},
            ])
        );
    }

    #[test]
    fn emails_by_value_with_escaped_filters() {
        let old = json!({"emails": [
            {"value": "a\"q@x", "type": "work", "primary": true},
            {"value": "b@x", "type": "home"},
        ]});
        let new = json!({"emails": [
            {"value": "b@x", "type": "home", "primary": true},
            {"value": "c@x", "type": "work"},
        ]});
        assert_eq!(
            ops(old, new),
            json!([
                {"op": "remove", "path": r#"emails[value eq "a\"q@x"]"#},
                {"op": "replace", "path": r#"emails[value eq "b@x"]"#, "value": {"value": "b@x", "type": "home", "primary": true}},
                {"op": "add", "path": "emails", "value": [{"value": "c@x", "type": "work"}]},
            ])
        );
    }

    #[test]
    fn arrays_without_values() {
        let a1 = json!({"type": "work", "locality": "A"});
        let a2 = json!({"type": "home", "locality": "B"});
        assert_eq!(
            ops(json!({"addresses": [a1]}), json!({"addresses": [a1, a2]})),
            json!([{"op": "add", "path": "addresses", "value": [a2]}])
        );
        assert_eq!(
            ops(json!({"addresses": [a1, a2]}), json!({"addresses": [a2]})),
            json!([{"op": "replace", "path": "addresses", "value": [a2]}])
        );
        assert_eq!(
            ops(json!({"addresses": [a1]}), json!({"addresses": []})),
            json!([{"op": "remove", "path": "addresses"}])
        );
    }

    #[test]
    fn hand_written_operations() {
        let r = PatchBuilder::new()
            .replace("active", json!(false))
            .remove("title")
            .build()
            .unwrap();
        assert_eq!(r.operations[0].op, PatchOpKind::Remove);
        assert!(PatchBuilder::new().build().is_none());
    }
}
