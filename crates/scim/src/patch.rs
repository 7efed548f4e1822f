//! PATCH application (RFC 7644 §3.5.2), including the forms real clients send.
//!
//! A request is first normalised by [`parse_operations`] (paths parsed, each operation checked
//! for the members it needs) so that the server can inspect operations, for instance to split
//! off Group `members` operations it keeps in a separate table, before anything is applied.
//! [`apply`] then runs the operations on a copy of the resource and validates the result against
//! the schema: all operations take effect or none does, and `changed` is false when the result
//! equals the original, so an idempotent PATCH does not create a new version.
//!
//! Decisions where the RFC leaves room or real clients depart from it:
//!
//! * **readOnly attributes.** A `path` that targets a readOnly attribute or sub-attribute (`id`,
//!   `meta`, `groups`, `members.display`) is 400 `mutability`: the client asked for something
//!   that cannot happen. Inside a `value` object, readOnly attributes and sub-attributes are
//!   ignored, because clients echo whole resources back (`id`, `meta`) and a membership sync must
//!   not fail because of them (authentik PR #23950).
//! * **immutable attributes** may be set when they have no value; changing or removing an
//!   existing value is 400 `mutability` (changes are caught by the final schema validation,
//!   removals here, since validation keeps an omitted immutable value).
//! * **remove** of a required attribute, or removal that leaves it unassigned, is 400
//!   `mutability`, as RFC 7644 §3.5.2.2 says. A `remove` that matches nothing is not an error.
//!   A `remove` without `path` but with a `value` (pingidentity/scim2#174) removes the listed
//!   values; with neither it is 400 `noTarget`. `path:"members"` with a value list removes the
//!   elements whose `value` sub-attribute matches (Entra's default member removal); on a
//!   single-valued attribute the value is not consulted and the attribute is removed.
//! * **filters that match nothing.** `add`, and `replace` with a sub-attribute
//!   (`emails[type eq "work"].value`), create the element from the filter's `attr eq "literal"`
//!   clauses joined by `and`, which Entra relies on. A filter that cannot describe a new element
//!   (`or`, `co`, …), and a plain `replace` of `attr[filter]`, is 400 `noTarget` (RFC 7644
//!   §3.5.2.3).
//! * **values are canonicalised** with the target attribute's definition, so Entra's
//!   `"value":"False"` on `active` is stored as `false`. A complex attribute given a plain string
//!   takes it as its `value` sub-attribute (Entra's manager `"value":"<id>"`), or as the object
//!   it encodes when it is JSON text (Entra's roles PATCH); a single-valued attribute given a
//!   one-element array takes the element (the documented manager form).
//! * **single-valued complex attributes** (`name`, the enterprise `manager`). An `add` or
//!   `replace` of the whole attribute merges: the sub-attributes given replace or add, the others
//!   are left as they are (§3.5.2.3). The exception is an attribute with a `value` sub-attribute
//!   (`manager`): there `value` says *which* value it is and the other sub-attributes (`$ref`,
//!   `displayName`) describe that one, so an operation that gives a different `value`, in any
//!   form (`"<id>"`, `{"value":"<id>"}`, `[{"value":"<id>"}]`), replaces the complex value whole,
//!   as §3.5.2.1 has an add to a single-valued attribute replace its value. Entra's manager
//!   change `"value":"<new id>"` thus leaves `{"value":"<new id>"}`, not the new id beside the
//!   old manager's `$ref`; a `$ref` given with the new `value` is kept. Giving the `value`
//!   already stored (per its `caseExact`), or no `value`, merges, so re-sending the same manager
//!   keeps its `$ref`. A path to one sub-attribute (`manager.value`) sets that sub-attribute
//!   alone, as §3.5.2.3 says.
//! * **`primary`.** Setting `primary: true` on an element sets it to false on the others of the
//!   attribute (RFC 7643 §2.4, RFC 7644 §3.5.2).
//! * **unassigned.** `null`, an empty array and a complex value with no sub-attributes left all
//!   mean unassigned (RFC 7643 §2.5): the key is removed. An extension object left empty is
//!   removed together with its URN in `schemas`; an extension attribute written to a resource
//!   without the extension adds both.
//! * **unknown names.** An attribute a `path` or a path-less key names that no schema of the
//!   resource type defines is 400 `invalidPath`; a value filter naming no sub-attribute is 400
//!   `invalidFilter` (it would silently match nothing); an unknown sub-attribute inside a value
//!   is validation's 400 `invalidSyntax`, as on POST and PUT.
//! * **explicit `null`** as the value of an `add` or `replace` with a path unassigns the target.
//! * **duplicates.** `add` skips an element the attribute already holds, also when the existing
//!   element carries more sub-attributes than the added one (re-adding `{"value":"u1"}` to
//!   members is a no-op), as §3.5.2.1 asks for a value already present.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::filter::{self, CompValue, CompareOp, Filter};
use crate::messages::{PatchOpKind, PatchRequest};
use crate::path::{AttrPath, PatchPath, get_ci};
use crate::schema::{AttrType, Attribute, Mutability, Registry, ResourceType};
use crate::validate::{self, Limits, Mode};

mod text;
pub use text::{Rewritten, TextOutcome, apply_to_text};

/// The PATCH operation kinds of RFC 7644 §3.5.2, parsed case-insensitively (Entra sends
/// `"Add"`).
pub type OpKind = PatchOpKind;

/// One PATCH operation with its path parsed, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    /// The operation's value: `None` when absent, `Some(Value::Null)` for an explicit `null`,
    /// which unassigns the target of an `add` or `replace` (RFC 7643 §2.5).
    pub value: Option<Value>,
}

/// The result of [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The patched, validated resource.
    pub resource: Value,
    /// Whether it differs from the original; false means no new version is due.
    pub changed: bool,
}

/// Parses the paths of a PATCH request and checks that each operation carries what its kind
/// needs: a `value` for `add` and `replace`, a `path` or a `value` for `remove`. Paths are held
/// to the default filter limits.
pub fn parse_operations(req: &PatchRequest) -> Result<Vec<Operation>, Error> {
    parse_operations_with(req, &filter::Limits::default())
}

/// [`parse_operations`] with explicit limits on the paths (a path's value filter is a filter).
pub fn parse_operations_with(
    req: &PatchRequest,
    limits: &filter::Limits,
) -> Result<Vec<Operation>, Error> {
    if req.operations.is_empty() {
        return Err(Error::InvalidValue(
            "a PATCH request needs at least one operation in \"Operations\"".into(),
        ));
    }
    req.operations
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let op = raw.op;
            let path = match raw.path.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(p) => Some(PatchPath::parse_with(p, limits)?),
            };
            let value = raw.value.clone();
            let n = i + 1;
            match (op, &path, &value) {
                (OpKind::Add | OpKind::Replace, _, None) => Err(Error::InvalidValue(format!(
                    "operation {n} ({}) needs a \"value\"",
                    op.as_str()
                ))),
                (OpKind::Add | OpKind::Replace, None, Some(v)) if !v.is_object() => {
                    Err(Error::InvalidValue(format!(
                        "operation {n} ({}) has no \"path\", so its \"value\" must be an object of \
                         attributes",
                        op.as_str()
                    )))
                }
                (OpKind::Remove, None, None | Some(Value::Null)) => Err(Error::NoTarget(format!(
                    "operation {n} (remove) needs a \"path\" (RFC 7644 §3.5.2.2)"
                ))),
                (OpKind::Remove, None, Some(v)) if !v.is_object() => {
                    Err(Error::InvalidValue(format!(
                        "operation {n} (remove) has no \"path\", so its \"value\" must be an object \
                         naming the values to remove"
                    )))
                }
                _ => Ok(Operation { op, path, value }),
            }
        })
        .collect()
}

/// Applies `ops` to `resource` atomically and validates the result against the schema with the
/// default [`Limits`].
///
/// Works on a copy: on any error the caller's resource is untouched and nothing of the request
/// took effect. The result is validated in replace mode against the original, which also
/// enforces `immutable` and `required`.
pub fn apply(
    registry: &Registry,
    rt: &ResourceType,
    resource: &Value,
    ops: &[Operation],
) -> Result<PatchOutcome, Error> {
    apply_with(registry, rt, resource, ops, &Limits::default())
}

/// [`apply`] with explicit limits on the values written and on the result.
pub fn apply_with(
    registry: &Registry,
    rt: &ResourceType,
    resource: &Value,
    ops: &[Operation],
    limits: &Limits,
) -> Result<PatchOutcome, Error> {
    let mode = Mode::Replace { existing: resource };
    let (resource, changed) = apply_validated(registry, rt, resource, ops, mode, limits)?;
    Ok(PatchOutcome { resource, changed })
}

/// Applies `ops` to a copy of `original` and validates the result in `mode`; `false` when the
/// result equals `original`. Shared by [`apply_with`] and [`apply_to_text`], which differ only
/// in how much of the resource `original` holds.
fn apply_validated(
    registry: &Registry,
    rt: &ResourceType,
    original: &Value,
    ops: &[Operation],
    mode: Mode<'_>,
    limits: &Limits,
) -> Result<(Value, bool), Error> {
    let mut work = original.clone();
    for op in ops {
        apply_in_place(registry, rt, &mut work, op, limits)?;
    }
    if crate::json_eq(&work, original) {
        return Ok((work, false));
    }
    // The patched document is ours: validation moves its canonical values into the result.
    let validated = validate::validate_owned(registry, rt, work, mode, limits)?;
    let changed = !crate::json_eq(&validated, original);
    Ok((validated, changed))
}

/// Applies one operation and reports whether the resource changed.
///
/// The operation is all or nothing (on error `resource` is untouched), but the result is not
/// validated against the schema: this is for callers that apply a subset of a request, such as
/// Group members kept apart from the resource document, and validate the whole themselves.
pub fn apply_operation(
    registry: &Registry,
    rt: &ResourceType,
    resource: &mut Value,
    op: &Operation,
) -> Result<bool, Error> {
    let mut work = resource.clone();
    apply_in_place(registry, rt, &mut work, op, &Limits::default())?;
    let changed = !crate::json_eq(&work, resource);
    *resource = work;
    Ok(changed)
}

/// What an operation's path leads to in the schema.
struct Target<'a> {
    /// The extension URN whose object holds the attribute; `None` for the resource root.
    ext: Option<&'a str>,
    attr: &'a Attribute,
    sub: Option<&'a Attribute>,
    filter: Option<&'a Filter>,
    /// The path as written, for error details; formatted only when one is produced.
    shown: &'a dyn fmt::Display,
    /// Bounds on the values written.
    limits: &'a Limits,
}

impl<'a> Target<'a> {
    fn resolve(
        registry: &'a Registry,
        rt: &'a ResourceType,
        path: &AttrPath,
        filter: Option<&'a Filter>,
        shown: &'a dyn fmt::Display,
        limits: &'a Limits,
    ) -> Result<Target<'a>, Error> {
        let parent = path.parent();
        let Some(resolved) = registry.resolve(rt, &parent) else {
            return Err(Error::InvalidPath(format!(
                "'{shown}': no attribute '{parent}' in resource type {}",
                rt.name
            )));
        };
        let attr = resolved.attr;
        let sub = match &path.sub {
            None => None,
            Some(name) => match attr.sub_attribute(name) {
                Some(sub) => Some(sub),
                None => {
                    return Err(Error::InvalidPath(format!(
                        "'{shown}': attribute '{}' has no sub-attribute '{name}'",
                        attr.name
                    )));
                }
            },
        };
        if let Some(filter) = filter {
            if !attr.multi_valued {
                return Err(Error::InvalidPath(format!(
                    "'{shown}': attribute '{}' is single-valued, so it cannot take a value filter",
                    attr.name
                )));
            }
            // Names that are no sub-attribute would silently match nothing, and a remove that
            // does nothing while reporting success was a real bug elsewhere (authentik#24173).
            Filter::ValuePath {
                attr: parent.clone(),
                filter: Box::new(filter.clone()),
            }
            .check(registry, rt)?;
        }
        let ext = if resolved.extension {
            resolved.schema
        } else {
            None
        };
        Ok(Target {
            ext,
            attr,
            sub,
            filter,
            shown,
            limits,
        })
    }

    fn read_only(&self) -> bool {
        self.attr.mutability == Mutability::ReadOnly
            || self
                .sub
                .is_some_and(|s| s.mutability == Mutability::ReadOnly)
    }
}

fn apply_in_place(
    registry: &Registry,
    rt: &ResourceType,
    resource: &mut Value,
    op: &Operation,
    limits: &Limits,
) -> Result<(), Error> {
    let Value::Object(root) = resource else {
        return Err(Error::InvalidValue(
            "the resource to patch is not a JSON object".into(),
        ));
    };
    let value = op.value.as_ref();
    match &op.path {
        Some(path) => {
            let target =
                Target::resolve(registry, rt, &path.attr, path.filter.as_ref(), path, limits)?;
            if target.read_only() {
                return Err(Error::Mutability(format!(
                    "'{}' is readOnly and cannot be changed",
                    target.shown
                )));
            }
            match (op.op, value) {
                (OpKind::Remove, value) => remove(root, &target, value.filter(|v| !v.is_null())),
                (_, Some(Value::Null)) => remove(root, &target, None),
                (kind, Some(value)) => write(root, &target, kind, value),
                (kind, None) => Err(Error::InvalidValue(format!(
                    "{} of '{}' needs a \"value\"",
                    kind.as_str(),
                    target.shown
                ))),
            }
        }
        None => match value {
            Some(Value::Object(attrs)) => {
                for (key, v) in attrs {
                    apply_key(registry, rt, root, op.op, key, v, limits)?;
                }
                Ok(())
            }
            None | Some(Value::Null) if op.op == OpKind::Remove => Err(Error::NoTarget(
                "remove needs a \"path\" (RFC 7644 §3.5.2.2)".into(),
            )),
            _ => Err(Error::InvalidValue(format!(
                "{} without a \"path\" needs a \"value\" object of attributes",
                op.op.as_str()
            ))),
        },
    }
}

/// One key of a path-less value object: an attribute name, a dotted `name.sub`, a URN-qualified
/// name, or a schema URN whose value holds that schema's attributes.
fn apply_key(
    registry: &Registry,
    rt: &ResourceType,
    root: &mut Map<String, Value>,
    kind: OpKind,
    key: &str,
    value: &Value,
    limits: &Limits,
) -> Result<(), Error> {
    if key.eq_ignore_ascii_case("schemas") {
        // The schemas list follows the attributes present; it is not set by hand.
        return Ok(());
    }
    if let Some(urn) = registry
        .schema_urns(rt)
        .find(|u| u.eq_ignore_ascii_case(key))
    {
        return match value {
            Value::Object(attrs) => {
                for (name, v) in attrs {
                    let path = AttrPath::parse(&format!("{urn}:{name}"))?;
                    apply_attr(registry, rt, root, kind, &path, v, limits)?;
                }
                Ok(())
            }
            Value::Null => Ok(()),
            _ => Err(Error::InvalidValue(format!(
                "'{key}' must be an object holding that schema's attributes"
            ))),
        };
    }
    let path = AttrPath::parse(key)?;
    apply_attr(registry, rt, root, kind, &path, value, limits)
}

fn apply_attr(
    registry: &Registry,
    rt: &ResourceType,
    root: &mut Map<String, Value>,
    kind: OpKind,
    path: &AttrPath,
    value: &Value,
    limits: &Limits,
) -> Result<(), Error> {
    let target = Target::resolve(registry, rt, path, None, path, limits)?;
    if target.read_only() {
        // Ignored, not rejected: clients send whole resources back, `id` and `meta` included.
        return Ok(());
    }
    let unassign = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
    match kind {
        OpKind::Add if unassign => Ok(()),
        OpKind::Replace if unassign => remove(root, &target, None),
        OpKind::Add | OpKind::Replace => write(root, &target, kind, value),
        OpKind::Remove => remove(root, &target, Some(value).filter(|v| !v.is_null())),
    }
}

/// `add` or `replace` at a resolved target.
fn write(
    root: &mut Map<String, Value>,
    t: &Target<'_>,
    kind: OpKind,
    value: &Value,
) -> Result<(), Error> {
    {
        let container = container_mut(root, t.ext, true)?.ok_or_else(|| {
            Error::InvalidValue(format!("'{}' has no place in this resource", t.shown))
        })?;
        if t.attr.multi_valued {
            write_multi(container, t, kind, value)?;
        } else {
            write_single(container, t, value)?;
        }
    }
    tidy_extension(root, t.ext);
    Ok(())
}

fn write_single(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    value: &Value,
) -> Result<(), Error> {
    let attr = t.attr;
    let value = single(attr, value)?;
    if let Some(sub) = t.sub {
        let v = canonical_sub(attr, sub, value, t.limits)?;
        let obj = object_slot(container, attr)?;
        set_or_clear(obj, &sub.name, v);
    } else if attr.kind == AttrType::Complex {
        // RFC 7644 §3.5.2.1 and §3.5.2.3 alike: the given sub-attributes replace or add, the
        // others are left as they are, unless the value is another one (see the module doc).
        let incoming = complex_value(attr, value, true, t.limits)?;
        let obj = object_slot(container, attr)?;
        if names_another_value(attr, obj, &incoming) {
            obj.clear();
        }
        for (k, v) in incoming {
            set_or_clear(obj, &k, v);
        }
    } else {
        let v = canonical(attr, value, t.limits)?;
        set_or_clear(container, &attr.name, v);
        return Ok(());
    }
    if get_ci(container, &attr.name).is_some_and(|v| v.as_object().is_some_and(Map::is_empty)) {
        remove_ci(container, &attr.name);
    }
    Ok(())
}

fn write_multi(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    kind: OpKind,
    value: &Value,
) -> Result<(), Error> {
    let attr = t.attr;
    let mut items = take_array(container, attr);
    let mut touched = Vec::new();
    match (t.filter, t.sub) {
        (None, None) => {
            let incoming = elements(attr, value, t.limits)?;
            if kind == OpKind::Replace {
                items.clear();
            }
            for e in incoming {
                if !items.iter().any(|x| covers(x, &e)) {
                    items.push(e);
                    touched.push(items.len() - 1);
                }
            }
        }
        (None, Some(sub)) => {
            let v = canonical_sub(attr, sub, value, t.limits)?;
            if items.is_empty() {
                if !v.is_null() {
                    let mut e = Map::new();
                    e.insert(sub.name.clone(), v);
                    items.push(Value::Object(e));
                    touched.push(0);
                }
            } else {
                for (i, e) in items.iter_mut().enumerate() {
                    if let Value::Object(e) = e {
                        set_or_clear(e, &sub.name, v.clone());
                        touched.push(i);
                    }
                }
            }
        }
        (Some(filter), sub) => {
            let matched: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, e)| filter.matches_element(e, attr))
                .map(|(i, _)| i)
                .collect();
            match sub {
                None => {
                    let mut incoming = elements(attr, value, t.limits)?;
                    if incoming.len() != 1 {
                        return Err(Error::InvalidValue(format!(
                            "'{}' selects values by a filter and takes exactly one value",
                            t.shown
                        )));
                    }
                    let new = incoming.remove(0);
                    if !matched.is_empty() {
                        for &i in &matched {
                            match (kind, &mut items[i], &new) {
                                (OpKind::Add, Value::Object(e), Value::Object(n)) => {
                                    for (k, v) in n {
                                        set_or_clear(e, k, v.clone());
                                    }
                                }
                                (_, slot, _) => *slot = new.clone(),
                            }
                        }
                        touched = matched;
                    } else if kind == OpKind::Replace {
                        return Err(Error::NoTarget(format!(
                            "'{}' matches no value to replace",
                            t.shown
                        )));
                    } else if attr.kind != AttrType::Complex {
                        // A simple value is all there is to describe: add it.
                        if !items.contains(&new) {
                            items.push(new);
                            touched.push(items.len() - 1);
                        }
                    } else {
                        let mut e = element_from_filter(t, filter)?;
                        match new {
                            Value::Object(n) => {
                                for (k, v) in n {
                                    e.insert(k, v);
                                }
                                items.push(Value::Object(e));
                            }
                            other => items.push(other),
                        }
                        touched.push(items.len() - 1);
                    }
                }
                Some(sub) => {
                    let v = canonical_sub(attr, sub, value, t.limits)?;
                    if !matched.is_empty() {
                        for &i in &matched {
                            if let Value::Object(e) = &mut items[i] {
                                set_or_clear(e, &sub.name, v.clone());
                            }
                        }
                        touched = matched;
                    } else if !v.is_null() {
                        let mut e = element_from_filter(t, filter)?;
                        e.insert(sub.name.clone(), v);
                        items.push(Value::Object(e));
                        touched.push(items.len() - 1);
                    }
                }
            }
        }
    }
    enforce_primary(&mut items, &touched);
    put_array(container, attr, items);
    Ok(())
}

/// `remove` at a resolved target; `value`, when given, lists the values to remove.
fn remove(
    root: &mut Map<String, Value>,
    t: &Target<'_>,
    value: Option<&Value>,
) -> Result<(), Error> {
    {
        let Some(container) = container_mut(root, t.ext, false)? else {
            return Ok(());
        };
        let attr = t.attr;
        let was_present = get_ci(container, &attr.name).is_some_and(|v| !v.is_null());
        // Validation keeps an omitted immutable value rather than failing, so a removal must be
        // caught here or it would silently do nothing.
        let immutable = t.attr.mutability == Mutability::Immutable
            || t.sub.is_some_and(|s| s.mutability == Mutability::Immutable);
        let before = if immutable {
            get_ci(container, &attr.name).cloned()
        } else {
            None
        };
        let mut sub_removed = false;
        match (attr.multi_valued, t.filter, t.sub) {
            (false, _, None) => {
                remove_ci(container, &attr.name);
            }
            (false, _, Some(sub)) => {
                if let Some(Value::Object(obj)) = get_mut_ci(container, &attr.name) {
                    sub_removed = remove_ci(obj, &sub.name).is_some();
                    if obj.is_empty() {
                        remove_ci(container, &attr.name);
                    }
                }
            }
            (true, filter, sub) => {
                let mut items = take_array(container, attr);
                let selected = |e: &Value| filter.is_none_or(|f| f.matches_element(e, attr));
                match (sub, value) {
                    (None, Some(listed)) if filter.is_none() => {
                        let listed = listed_elements(attr, listed, t.limits)?;
                        items.retain(|e| !listed.iter().any(|l| listed_matches(attr, e, l)));
                    }
                    (None, _) => items.retain(|e| !selected(e)),
                    (Some(sub), _) => {
                        for e in items.iter_mut() {
                            if selected(e)
                                && let Value::Object(obj) = e
                            {
                                sub_removed |= remove_ci(obj, &sub.name).is_some();
                            }
                        }
                        items.retain(|e| !e.as_object().is_some_and(Map::is_empty));
                    }
                }
                put_array(container, attr, items);
            }
        }
        if immutable && get_ci(container, &attr.name) != before.as_ref() {
            return Err(Error::Mutability(format!(
                "'{}' is immutable and cannot be removed",
                t.shown
            )));
        }
        if sub_removed && t.sub.is_some_and(|s| s.required) {
            return Err(Error::Mutability(format!(
                "'{}' is required and cannot be removed",
                t.shown
            )));
        }
        let now_absent = get_ci(container, &attr.name).is_none_or(Value::is_null);
        if attr.required && was_present && now_absent {
            return Err(Error::Mutability(format!(
                "'{}' is required and cannot be removed",
                attr.name
            )));
        }
    }
    tidy_extension(root, t.ext);
    Ok(())
}

/// The object that holds the target attribute: the resource itself, or its extension object
/// (created, with its URN added to `schemas`, when `create` and absent).
fn container_mut<'m>(
    root: &'m mut Map<String, Value>,
    ext: Option<&str>,
    create: bool,
) -> Result<Option<&'m mut Map<String, Value>>, Error> {
    let Some(urn) = ext else {
        return Ok(Some(root));
    };
    let key = match key_ci(root, urn) {
        Some(key) => key,
        None if create => {
            add_schema_urn(root, urn);
            root.insert(urn.to_owned(), Value::Object(Map::new()));
            Cow::Borrowed(urn)
        }
        None => return Ok(None),
    };
    match root.get_mut(&*key) {
        Some(Value::Object(obj)) => Ok(Some(obj)),
        Some(Value::Null) if !create => Ok(None),
        Some(slot @ Value::Null) => {
            *slot = Value::Object(Map::new());
            match slot {
                Value::Object(obj) => Ok(Some(obj)),
                _ => Ok(None),
            }
        }
        _ => Err(Error::InvalidValue(format!(
            "'{urn}' must be an object holding that extension's attributes"
        ))),
    }
}

/// Drops an extension object left empty, and its URN from `schemas`, so that removing the last
/// extension attribute restores the resource as it was before the extension was used.
fn tidy_extension(root: &mut Map<String, Value>, ext: Option<&str>) {
    let Some(urn) = ext else { return };
    let Some(key) = key_ci(root, urn) else { return };
    if root
        .get(&*key)
        .is_some_and(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty))
    {
        root.shift_remove(&*key);
        if let Some(Value::Array(schemas)) = get_mut_ci(root, "schemas") {
            schemas.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
        }
    }
}

fn add_schema_urn(root: &mut Map<String, Value>, urn: &str) {
    // Without a usable `schemas` list there is nothing to extend; validation reports it.
    if let Some(Value::Array(schemas)) = get_mut_ci(root, "schemas")
        && !schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    {
        schemas.push(Value::String(urn.to_owned()));
    }
}

/// The actual key under which `name` is stored, matched case-insensitively. It is `name` itself
/// in a canonical resource, and then borrowed rather than copied.
fn key_ci<'n>(map: &Map<String, Value>, name: &'n str) -> Option<Cow<'n, str>> {
    if map.contains_key(name) {
        return Some(Cow::Borrowed(name));
    }
    map.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| Cow::Owned(k.clone()))
}

fn get_mut_ci<'m>(map: &'m mut Map<String, Value>, name: &str) -> Option<&'m mut Value> {
    let key = key_ci(map, name)?;
    map.get_mut(&*key)
}

fn remove_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = key_ci(map, name)?;
    map.shift_remove(&*key)
}

/// Stores `value` under the canonical `name`, replacing a differently cased key; `null` removes.
fn set_or_clear(map: &mut Map<String, Value>, name: &str, value: Value) {
    if value.is_null() {
        remove_ci(map, name);
        return;
    }
    if let Some(key) = key_ci(map, name)
        && key != name
    {
        map.shift_remove(&*key);
    }
    map.insert(name.to_owned(), value);
}

/// The object of a single-valued complex attribute, created empty when absent.
fn object_slot<'m>(
    container: &'m mut Map<String, Value>,
    attr: &Attribute,
) -> Result<&'m mut Map<String, Value>, Error> {
    let key = match key_ci(container, &attr.name) {
        Some(key) => key,
        None => {
            container.insert(attr.name.clone(), Value::Object(Map::new()));
            Cow::Borrowed(attr.name.as_str())
        }
    };
    let slot = container
        .get_mut(&*key)
        .ok_or_else(|| Error::InvalidValue(format!("'{}' could not be stored", attr.name)))?;
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(obj) => Ok(obj),
        _ => Err(Error::InvalidValue(format!(
            "'{}' holds a value that is not an object",
            attr.name
        ))),
    }
}

/// Takes the elements of a multi-valued attribute out of the container (a lone stored value
/// counts as one element), leaving its key in place for [`put_array`].
fn take_array(container: &mut Map<String, Value>, attr: &Attribute) -> Vec<Value> {
    match get_mut_ci(container, &attr.name).map(std::mem::take) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
    }
}

/// Stores the elements under the canonical name where they were, or unassigns the attribute
/// when none remain.
fn put_array(container: &mut Map<String, Value>, attr: &Attribute, items: Vec<Value>) {
    if items.is_empty() {
        remove_ci(container, &attr.name);
    } else {
        set_or_clear(container, &attr.name, Value::Array(items));
    }
}

/// The value a single-valued attribute takes from a PATCH value: a one-element array stands for
/// its element (Entra's documented manager form `[{"value":…}]`).
fn single<'v>(attr: &Attribute, value: &'v Value) -> Result<&'v Value, Error> {
    match value {
        Value::Array(items) if items.len() == 1 => Ok(&items[0]),
        Value::Array(items) if items.is_empty() => Ok(&Value::Null),
        Value::Array(_) => Err(Error::InvalidValue(format!(
            "'{}' is single-valued and cannot take several values",
            attr.name
        ))),
        other => Ok(other),
    }
}

/// Whether `incoming`, the canonical sub-attributes given for a single-valued complex attribute,
/// name another value than the `stored` one by the `value` sub-attribute: the other stored
/// sub-attributes (`$ref`, `displayName`) then describe the old value and must not survive.
fn names_another_value(
    attr: &Attribute,
    stored: &Map<String, Value>,
    incoming: &Map<String, Value>,
) -> bool {
    let Some(value_attr) = attr.sub_attribute("value") else {
        return false;
    };
    let Some(new) = incoming.get(&value_attr.name).filter(|v| !v.is_null()) else {
        return false;
    };
    !get_ci(stored, &value_attr.name)
        .is_some_and(|old| validate::values_equal(value_attr, old, new))
}

/// The canonical form of one value of a simple attribute or sub-attribute; `null` stays `null`.
fn canonical(attr: &Attribute, value: &Value, limits: &Limits) -> Result<Value, Error> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    validate::canonicalize_owned(attr, value.clone(), limits)
}

/// The canonical form of a value for one sub-attribute of `attr`. It goes through the parent so
/// that an error names the whole path (`emails.primary`, not `primary`).
fn canonical_sub(
    attr: &Attribute,
    sub: &Attribute,
    value: &Value,
    limits: &Limits,
) -> Result<Value, Error> {
    if value.is_null() || sub.mutability == Mutability::ReadOnly {
        // The parent would drop a readOnly sub-attribute; one only reaches here as a filter
        // literal, which must keep its value.
        return canonical(sub, value, limits);
    }
    let mut probe = Map::with_capacity(1);
    probe.insert(sub.name.clone(), value.clone());
    match validate::canonicalize_owned(attr, Value::Object(probe), limits)? {
        Value::Object(mut obj) => Ok(obj.shift_remove(&sub.name).unwrap_or(Value::Null)),
        _ => Ok(Value::Null),
    }
}

/// A complex value's sub-attributes in canonical form (readOnly ones dropped, as the server
/// owns them). `keep_nulls` keeps `null` sub-values, which a merge turns into removals.
fn complex_value(
    attr: &Attribute,
    value: &Value,
    keep_nulls: bool,
    limits: &Limits,
) -> Result<Map<String, Value>, Error> {
    let decoded;
    let value = match value {
        // Entra's roles PATCH sends each element as JSON text.
        Value::String(s) if s.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => {
                    decoded = v;
                    &decoded
                }
                _ => value,
            }
        }
        _ => value,
    };
    let mut nulls = Vec::new();
    let canonical = match value {
        Value::Object(obj) if obj.values().any(Value::is_null) => {
            let mut present = obj.clone();
            present.retain(|k, v| {
                if v.is_null() {
                    nulls.extend(attr.sub_attribute(k).map(|s| s.name.clone()));
                }
                !v.is_null()
            });
            validate::canonicalize_owned(attr, Value::Object(present), limits)?
        }
        // A bare scalar becomes `{"value": scalar}` when the attribute has a `value`
        // (Entra's manager `"value":"<id>"`); validation owns that rule.
        _ => validate::canonicalize_owned(attr, value.clone(), limits)?,
    };
    let mut out = match canonical {
        Value::Object(obj) => obj,
        Value::Null => Map::new(),
        other => {
            return Err(Error::InvalidValue(format!(
                "'{}' is complex and needs an object value, got {other}",
                attr.name
            )));
        }
    };
    if keep_nulls {
        for name in nulls {
            out.insert(name, Value::Null);
        }
    }
    Ok(out)
}

/// One element of a multi-valued attribute in canonical form.
fn element(attr: &Attribute, value: &Value, limits: &Limits) -> Result<Value, Error> {
    if attr.kind == AttrType::Complex {
        Ok(Value::Object(complex_value(attr, value, false, limits)?))
    } else {
        canonical(attr, value, limits)
    }
}

/// The elements a PATCH value gives a multi-valued attribute: an array's items, or one value.
fn elements(attr: &Attribute, value: &Value, limits: &Limits) -> Result<Vec<Value>, Error> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter().filter(|v| !v.is_null()) {
        let e = element(attr, item, limits)?;
        if !e.is_null() && !e.as_object().is_some_and(Map::is_empty) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The elements a `remove` lists. ReadOnly sub-attributes are kept: they only select.
fn listed_elements(attr: &Attribute, value: &Value, limits: &Limits) -> Result<Vec<Value>, Error> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    items
        .iter()
        .filter(|v| !v.is_null())
        .map(|item| match (attr.kind, item) {
            (AttrType::Complex, Value::Object(obj)) => Ok(Value::Object(obj.clone())),
            _ => element(attr, item, limits),
        })
        .collect()
}

/// Whether `existing` already holds everything `new` says: equal, or for complex values every
/// given sub-attribute equal.
fn covers(existing: &Value, new: &Value) -> bool {
    match (existing, new) {
        (Value::Object(e), Value::Object(n)) => n.iter().all(|(k, v)| get_ci(e, k) == Some(v)),
        _ => existing == new,
    }
}

/// Whether a stored element is one that a `remove` value list names. Complex elements with a
/// `value` are matched by it alone (Entra lists members as `{"value":…,"$ref":null}`); others
/// need every listed sub-attribute to match.
fn listed_matches(attr: &Attribute, existing: &Value, listed: &Value) -> bool {
    match (existing, listed) {
        (Value::Object(e), Value::Object(l)) => {
            if let (Some(value_attr), Some(lv)) = (attr.sub_attribute("value"), get_ci(l, "value"))
            {
                return get_ci(e, "value").is_some_and(|ev| same_value(value_attr, ev, lv));
            }
            l.iter().filter(|(_, v)| !v.is_null()).all(|(k, lv)| {
                match (attr.sub_attribute(k), get_ci(e, k)) {
                    (Some(sub), Some(ev)) => same_value(sub, ev, lv),
                    _ => false,
                }
            })
        }
        (Value::Object(_), _) | (_, Value::Object(_)) => false,
        _ => same_value(attr, existing, listed),
    }
}

/// Equality as the schema sees it: `caseExact`, dateTimes as instants, numbers by value.
fn same_value(attr: &Attribute, a: &Value, b: &Value) -> bool {
    a == b || crate::filter::compare_values(a, b, attr) == Some(std::cmp::Ordering::Equal)
}

/// The element a filter describes, for `add` (and `replace` of a sub-attribute) through a filter
/// that matches nothing: `emails[type eq "work"].value` creates `{"type":"work","value":…}`.
/// Only `attr eq "literal"` clauses joined by `and` describe an element unambiguously.
fn element_from_filter(t: &Target<'_>, filter: &Filter) -> Result<Map<String, Value>, Error> {
    fn collect(
        attr: &Attribute,
        f: &Filter,
        out: &mut Map<String, Value>,
        limits: &Limits,
    ) -> Option<()> {
        match f {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.urn.is_none() && path.sub.is_none() => {
                let sub = attr.sub_attribute(&path.name)?;
                let v = match value {
                    CompValue::Null => return None,
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::String(s) => Value::String(s.clone()),
                };
                let v = canonical_sub(attr, sub, &v, limits).ok()?;
                match out.get(&sub.name) {
                    Some(old) if *old != v => None,
                    _ => {
                        out.insert(sub.name.clone(), v);
                        Some(())
                    }
                }
            }
            Filter::And(a, b) => {
                collect(attr, a, out, limits)?;
                collect(attr, b, out, limits)
            }
            _ => None,
        }
    }
    let mut out = Map::new();
    if t.attr.kind == AttrType::Complex && collect(t.attr, filter, &mut out, t.limits).is_some() {
        return Ok(out);
    }
    Err(Error::NoTarget(format!(
        "'{}' matches no value, and its filter does not describe a new one (only `attr eq \
         \"value\"` clauses joined by `and` do)",
        t.shown
    )))
}

/// RFC 7643 §2.4: at most one element is primary. When the operation made one of `touched`
/// primary, the others that were primary become `false`.
fn enforce_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| {
        v.as_object()
            .and_then(|o| get_ci(o, "primary"))
            .is_some_and(|p| *p == Value::Bool(true))
    };
    if !touched
        .iter()
        .any(|&i| items.get(i).is_some_and(is_primary))
    {
        return;
    }
    for (i, e) in items.iter_mut().enumerate() {
        if touched.contains(&i) || !is_primary(e) {
            continue;
        }
        if let Value::Object(obj) = e {
            set_or_clear(obj, "primary", Value::Bool(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::urn;

    const BABS: &str = "2819c223-7f76-453a-919d-413861904646";
    const MANDY: &str = "902c246b-6245-4190-8e05-00816be7344a";
    const JAMES: &str = "08e1d05d-121c-4561-8b96-473d93df9210";

    fn run(rt: &str, resource: &Value, ops: Value) -> Result<PatchOutcome, Error> {
        let registry = Registry::rfc7643();
        let rt = registry
            .resource_type(rt)
            .expect("RFC 7643 resource type")
            .clone();
        run_with(&registry, &rt, resource, ops)
    }

    fn ops_of(ops: Value) -> Result<Vec<Operation>, Error> {
        let req: PatchRequest = crate::messages::from_value(json!({
            "schemas": [urn::PATCH_OP],
            "Operations": ops,
        }))?;
        parse_operations(&req)
    }

    fn run_with(
        registry: &Registry,
        rt: &ResourceType,
        resource: &Value,
        ops: Value,
    ) -> Result<PatchOutcome, Error> {
        apply(registry, rt, resource, &ops_of(ops)?)
    }

    /// Applies `ops` and returns the patched resource, failing the test on an error.
    fn patched(rt: &str, resource: &Value, ops: Value) -> Value {
        match run(rt, resource, ops) {
            Ok(out) => out.resource,
            Err(e) => panic!("PATCH failed: {e}"),
        }
    }

    fn err(rt: &str, resource: &Value, ops: Value) -> Error {
        match run(rt, resource, ops) {
            Ok(out) => panic!("PATCH succeeded: {}", out.resource),
            Err(e) => e,
        }
    }

    fn member(id: &str, display: Option<&str>) -> Value {
        let mut m = json!({
            "value": id,
            "$ref": format!("https://example.com/v2/Users/{id}"),
        });
        if let Some(d) = display {
            m["display"] = json!(d);
        }
        m
    }

    /// RFC 7643 §8.4 as stored, with Babs and Mandy as members: `members.display` is readOnly,
    /// so validation does not store the client's copy.
    fn group() -> Value {
        json!({
            "schemas": [urn::GROUP],
            "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "displayName": "Tour Guides",
            "members": [member(BABS, None), member(MANDY, None)],
            "meta": {
                "resourceType": "Group",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff592\"",
                "location": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"
            }
        })
    }

    /// RFC 7643 §8.1, the minimal user.
    fn minimal_user() -> Value {
        json!({
            "schemas": [urn::USER],
            "id": BABS,
            "userName": "bjensen@example.com",
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff590\"",
                "location": format!("https://example.com/v2/Users/{BABS}")
            }
        })
    }

    /// RFC 7643 §8.2, the full user (without password, groups and certificates).
    fn full_user() -> Value {
        json!({
            "schemas": [urn::USER],
            "id": BABS,
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {
                "formatted": "Ms. Barbara J Jensen, III",
                "familyName": "Jensen",
                "givenName": "Barbara",
                "middleName": "Jane",
                "honorificPrefix": "Ms.",
                "honorificSuffix": "III"
            },
            "displayName": "Babs Jensen",
            "nickName": "Babs",
            "profileUrl": "https://login.example.com/bjensen",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "addresses": [
                {
                    "type": "work",
                    "streetAddress": "100 Universal City Plaza",
                    "locality": "Hollywood",
                    "region": "CA",
                    "postalCode": "91608",
                    "country": "USA",
                    "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                    "primary": true
                },
                {
                    "type": "home",
                    "streetAddress": "456 Hollywood Blvd",
                    "locality": "Hollywood",
                    "region": "CA",
                    "postalCode": "91608",
                    "country": "USA",
                    "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA"
                }
            ],
            "phoneNumbers": [
                {"value": "555-555-5555", "type": "work"},
                {"value": "555-555-4444", "type": "mobile"}
            ],
            "userType": "Employee",
            "title": "Tour Guide",
            "preferredLanguage": "en-US",
            "locale": "en-US",
            "timezone": "America/Los_Angeles",
            "active": true,
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"a330bc54f0671c9\"",
                "location": format!("https://example.com/v2/Users/{BABS}")
            }
        })
    }

    #[test]
    fn fixtures_are_in_stored_form() {
        // Otherwise `changed` and whole-resource comparisons would measure validation's
        // normalisation rather than the PATCH.
        let registry = Registry::rfc7643();
        for (rt, r) in [
            ("User", minimal_user()),
            ("User", full_user()),
            ("Group", group()),
        ] {
            let rt = registry.resource_type(rt).unwrap();
            let stored = validate::validate(&registry, rt, &r, Mode::Replace { existing: &r });
            assert_eq!(stored.as_ref(), Ok(&r));
        }
    }

    // ---- RFC 7644 §3.5.2.1 add ----

    #[test]
    fn rfc_add_member() {
        let mut g = group();
        g["members"] = json!([member(MANDY, None)]);
        let out = patched(
            "Group",
            &g,
            json!([{
                "op": "add",
                "path": "members",
                "value": [member(BABS, Some("Babs Jensen"))]
            }]),
        );
        // `display` is readOnly: the server owns it; the client's copy is not stored.
        let mut expected = g.clone();
        expected["members"] = json!([member(MANDY, None), member(BABS, None)]);
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_add_without_path() {
        let out = patched(
            "User",
            &minimal_user(),
            json!([{
                "op": "add",
                "value": {
                    "emails": [{"value": "babs@jensen.org", "type": "home"}],
                    "nickname": "Babs"
                }
            }]),
        );
        let mut expected = minimal_user();
        expected["emails"] = json!([{"value": "babs@jensen.org", "type": "home"}]);
        expected["nickName"] = json!("Babs");
        assert_eq!(out, expected);
    }

    // ---- RFC 7644 §3.5.2.2 remove ----

    #[test]
    fn rfc_remove_all_members() {
        let out = patched(
            "Group",
            &group(),
            json!([{"op": "remove", "path": "members"}]),
        );
        let mut expected = group();
        expected.as_object_mut().unwrap().remove("members");
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_remove_one_member() {
        let out = patched(
            "Group",
            &group(),
            json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}]),
        );
        let mut expected = group();
        expected["members"] = json!([member(MANDY, None)]);
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_remove_by_complex_filter() {
        let out = patched(
            "User",
            &full_user(),
            json!([{
                "op": "remove",
                "path": "emails[type eq \"work\" and value ew \"example.com\"]"
            }]),
        );
        let mut expected = full_user();
        expected["emails"] = json!([{"value": "babs@jensen.org", "type": "home"}]);
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_remove_one_member_and_add_another() {
        let out = patched(
            "Group",
            &group(),
            json!([
                {"op": "remove", "path": format!("members[value eq \"{BABS}\"]")},
                {"op": "add", "path": "members", "value": [member(JAMES, Some("James Smith"))]}
            ]),
        );
        let mut expected = group();
        expected["members"] = json!([member(MANDY, None), member(JAMES, None)]);
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_remove_all_members_and_add_new_list() {
        let out = patched(
            "Group",
            &group(),
            json!([
                {"op": "remove", "path": "members"},
                {"op": "add", "path": "members", "value": [
                    member(BABS, Some("Babs Jensen")),
                    member(JAMES, Some("James Smith"))
                ]}
            ]),
        );
        let mut expected = group();
        expected["members"] = json!([member(BABS, None), member(JAMES, None)]);
        assert_eq!(out, expected);
    }

    // ---- RFC 7644 §3.5.2.3 replace ----

    #[test]
    fn rfc_replace_all_members() {
        let out = patched(
            "Group",
            &group(),
            json!([{
                "op": "replace",
                "path": "members",
                "value": [member(BABS, Some("Babs Jensen")), member(JAMES, Some("James Smith"))]
            }]),
        );
        let mut expected = group();
        expected["members"] = json!([member(BABS, None), member(JAMES, None)]);
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_replace_work_address() {
        let new_work = json!({
            "type": "work",
            "streetAddress": "911 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "US",
            "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
            "primary": true
        });
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": new_work}]),
        );
        let mut expected = full_user();
        expected["addresses"][0] = new_work;
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_replace_work_street_address() {
        let out = patched(
            "User",
            &full_user(),
            json!([{
                "op": "replace",
                "path": "addresses[type eq \"work\"].streetAddress",
                "value": "1010 Broadway Ave"
            }]),
        );
        let mut expected = full_user();
        expected["addresses"][0]["streetAddress"] = json!("1010 Broadway Ave");
        assert_eq!(out, expected);
    }

    #[test]
    fn rfc_replace_without_path() {
        let out = patched(
            "User",
            &minimal_user(),
            json!([{
                "op": "replace",
                "value": {
                    "emails": [
                        {"value": "bjensen@example.com", "type": "work", "primary": true},
                        {"value": "babs@jensen.org", "type": "home"}
                    ],
                    "nickname": "Babs"
                }
            }]),
        );
        let mut expected = minimal_user();
        expected["emails"] = json!([
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ]);
        expected["nickName"] = json!("Babs");
        assert_eq!(out, expected);
    }

    #[test]
    fn replace_multi_valued_without_filter_replaces_all() {
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "phoneNumbers", "value": [{"value": "1", "type": "fax"}]}]),
        );
        let mut expected = full_user();
        expected["phoneNumbers"] = json!([{"value": "1", "type": "fax"}]);
        assert_eq!(out, expected);
    }

    // ---- forms real clients send (scim-interop.md, entra-provisioning.md §10b) ----

    const ENT: &str = urn::ENTERPRISE_USER;

    #[test]
    fn entra_capitalised_ops_and_string_boolean() {
        let out = patched(
            "User",
            &full_user(),
            json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "title", "value": "Boss"}
            ]),
        );
        let mut expected = full_user();
        expected["active"] = json!(false);
        expected["title"] = json!("Boss");
        assert_eq!(out, expected);
    }

    #[test]
    fn okta_replace_without_path() {
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "replace", "value": {"active": false}}]),
        );
        let mut expected = full_user();
        expected["active"] = json!(false);
        assert_eq!(out, expected);
    }

    #[test]
    fn path_less_dotted_and_urn_keys() {
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "replace", "value": {
                "name.givenName": "Ann",
                format!("{ENT}:employeeNumber"): "7"
            }}]),
        );
        let mut expected = full_user();
        expected["name"]["givenName"] = json!("Ann");
        expected["schemas"] = json!([urn::USER, ENT]);
        expected[ENT] = json!({"employeeNumber": "7"});
        assert_eq!(out, expected);
    }

    #[test]
    fn path_less_urn_key_holding_extension_object() {
        let out = patched(
            "User",
            &minimal_user(),
            json!([{"op": "add", "value": {
                ENT: {"department": "Tour Operations", "Manager": {"value": "m1"}}
            }}]),
        );
        let mut expected = minimal_user();
        expected["schemas"] = json!([urn::USER, ENT]);
        expected[ENT] = json!({"department": "Tour Operations", "manager": {"value": "m1"}});
        assert_eq!(out, expected);
    }

    #[test]
    fn manager_in_every_form() {
        let mut expected = minimal_user();
        expected["schemas"] = json!([urn::USER, ENT]);
        expected[ENT] = json!({"manager": {"value": "m1"}});
        for value in [
            json!("m1"),
            json!({"value": "m1"}),
            json!([{"value": "m1"}]),
        ] {
            let out = patched(
                "User",
                &minimal_user(),
                json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": value}]),
            );
            assert_eq!(out, expected, "manager given as {value}");
        }
        let out = patched(
            "User",
            &minimal_user(),
            json!([{"op": "Add", "path": "manager", "value": [
                {"value": "m1", "$ref": "https://example.com/v2/Users/m1"}
            ]}]),
        );
        expected[ENT]["manager"]["$ref"] = json!("https://example.com/v2/Users/m1");
        assert_eq!(out, expected);
    }

    #[test]
    fn a_new_manager_replaces_the_old_one_whole() {
        let a_ref = "https://example.com/v2/Users/A";
        let mut user = minimal_user();
        user["schemas"] = json!([urn::USER, ENT]);
        user[ENT] = json!({"manager": {"value": "A", "$ref": a_ref}});
        let path = format!("{ENT}:manager");
        // Another `value`, in every form and by either operation: the old `$ref` goes with the
        // old manager (Entra's `"value":"<id>"` was leaving it beside the new id).
        for value in [json!("B"), json!({"value": "B"}), json!([{"value": "B"}])] {
            for op in ["Add", "Replace"] {
                let out = patched(
                    "User",
                    &user,
                    json!([{"op": op, "path": path, "value": value}]),
                );
                assert_eq!(
                    out[ENT],
                    json!({"manager": {"value": "B"}}),
                    "{op} of the manager as {value}"
                );
            }
        }
        let out = patched(
            "User",
            &user,
            json!([{"op": "add", "value": {ENT: {"manager": "B"}}}]),
        );
        assert_eq!(out[ENT], json!({"manager": {"value": "B"}}), "path-less");
        // A `$ref` sent with the new value is the new manager's.
        let b_ref = "https://example.com/v2/Users/B";
        let out = patched(
            "User",
            &user,
            json!([{"op": "Add", "path": path, "value": {"value": "B", "$ref": b_ref}}]),
        );
        assert_eq!(out[ENT], json!({"manager": {"value": "B", "$ref": b_ref}}));

        // The same manager again, or no `value`: the sub-attributes merge.
        let again = run(
            "User",
            &user,
            json!([{"op": "Add", "path": path, "value": "A"}]),
        )
        .unwrap();
        assert!(!again.changed, "re-sending the manager keeps its $ref");
        assert_eq!(again.resource, user);
        let out = patched(
            "User",
            &user,
            json!([{"op": "Replace", "path": path, "value": {"$ref": b_ref}}]),
        );
        assert_eq!(out[ENT], json!({"manager": {"value": "A", "$ref": b_ref}}));
        // A path to the sub-attribute sets that sub-attribute alone (RFC 7644 §3.5.2.3).
        let out = patched(
            "User",
            &user,
            json!([{"op": "Replace", "path": format!("{path}.value"), "value": "B"}]),
        );
        assert_eq!(out[ENT], json!({"manager": {"value": "B", "$ref": a_ref}}));
        // `name` has no `value`: a whole-attribute add merges as before.
        let mut named = minimal_user();
        named["name"] = json!({"familyName": "Jensen", "givenName": "Barbara"});
        let out = patched(
            "User",
            &named,
            json!([{"op": "Add", "path": "name", "value": {"givenName": "Babs"}}]),
        );
        assert_eq!(
            out["name"],
            json!({"familyName": "Jensen", "givenName": "Babs"})
        );
    }

    #[test]
    fn filtered_add_creates_the_element() {
        for op in ["Add", "Replace"] {
            let out = patched(
                "User",
                &minimal_user(),
                json!([
                    {"op": op, "path": "emails[type eq \"work\"].value", "value": "b@example.com"},
                    {"op": op, "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"}
                ]),
            );
            let mut expected = minimal_user();
            expected["emails"] = json!([{"type": "work", "value": "b@example.com"}]);
            expected["addresses"] = json!([{"type": "work", "formatted": "1 Main St"}]);
            assert_eq!(out, expected, "{op}");
        }
    }

    #[test]
    fn filtered_add_sets_the_matching_element() {
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
        );
        let mut expected = full_user();
        expected["emails"][0]["value"] = json!("new@example.com");
        assert_eq!(out, expected);
    }

    #[test]
    fn filtered_replace_of_whole_element_without_match_is_no_target() {
        let e = err(
            "User",
            &minimal_user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "x"}}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::NoTarget), "{e}");
    }

    #[test]
    fn filter_that_cannot_describe_an_element_is_no_target() {
        let e = err(
            "User",
            &minimal_user(),
            json!([{"op": "add", "path": "emails[type eq \"work\" or type eq \"home\"].value", "value": "x"}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::NoTarget), "{e}");
    }

    #[test]
    fn member_removal_both_ways() {
        let by_value = patched(
            "Group",
            &group(),
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": BABS}]}]),
        );
        let by_filter = patched(
            "Group",
            &group(),
            json!([{"op": "remove", "path": format!("members[value eq \"{BABS}\"]")}]),
        );
        let mut expected = group();
        expected["members"] = json!([member(MANDY, None)]);
        assert_eq!(by_value, expected);
        assert_eq!(by_filter, expected);
    }

    #[test]
    fn remove_with_value_body_and_no_path() {
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "remove", "value": {"emails": [{"value": "babs@jensen.org"}]}}]),
        );
        let mut expected = full_user();
        expected["emails"] =
            json!([{"value": "bjensen@example.com", "type": "work", "primary": true}]);
        assert_eq!(out, expected);
    }

    #[test]
    fn member_add_without_type_and_null_ref() {
        let out = patched(
            "Group",
            &group(),
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": JAMES}]}]),
        );
        let mut expected = group();
        expected["members"]
            .as_array_mut()
            .unwrap()
            .push(json!({"value": JAMES}));
        assert_eq!(out, expected);
    }

    #[test]
    fn entra_roles_as_json_text() {
        let out = patched(
            "User",
            &minimal_user(),
            json!([{"op": "Add", "path": "roles", "value": [
                "{\"value\":\"Admin\",\"display\":\"Administrator\",\"primary\":\"True\"}"
            ]}]),
        );
        let mut expected = minimal_user();
        expected["roles"] =
            json!([{"value": "Admin", "display": "Administrator", "primary": true}]);
        assert_eq!(out, expected);
    }

    #[test]
    fn remove_that_matches_nothing_is_not_an_error() {
        for op in [
            json!({"op": "remove", "path": "members[value eq \"nobody\"]"}),
            json!({"op": "remove", "path": "members", "value": [{"value": "nobody"}]}),
            json!({"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members[value eq \"x\"]"}),
        ] {
            let out = run("Group", &group(), json!([op])).unwrap();
            assert!(!out.changed);
            assert_eq!(out.resource, group());
        }
        let out = run(
            "User",
            &minimal_user(),
            json!([{"op": "remove", "path": "nickName"}]),
        )
        .unwrap();
        assert!(!out.changed);
    }

    // ---- mutability, required, errors ----

    const TEST_EXT: &str = "urn:example:params:scim:schemas:extension:test:2.0:User";

    /// The RFC registry plus a User extension with an immutable attribute, a multi-valued
    /// string attribute and a complex attribute with a required sub-attribute.
    fn test_registry() -> (Registry, ResourceType) {
        let mut registry = Registry::rfc7643();
        let schema: crate::schema::Schema = serde_json::from_value(json!({
            "id": TEST_EXT,
            "name": "Test",
            "attributes": [
                {"name": "badge", "type": "string", "mutability": "immutable"},
                {"name": "tags", "type": "string", "multiValued": true},
                {"name": "clearance", "type": "complex", "subAttributes": [
                    {"name": "level", "type": "integer", "required": true},
                    {"name": "since", "type": "dateTime"}
                ]}
            ]
        }))
        .unwrap();
        registry.insert_schema(schema);
        let mut rt = registry.resource_type("User").unwrap().clone();
        rt.schema_extensions.push(crate::schema::SchemaExtension {
            schema: TEST_EXT.into(),
            required: false,
        });
        registry.insert_resource_type(rt.clone());
        (registry, rt)
    }

    fn with_test_ext(ext: Value) -> Value {
        let mut u = minimal_user();
        u["schemas"] = json!([urn::USER, TEST_EXT]);
        u[TEST_EXT] = ext;
        u
    }

    #[test]
    fn immutable_may_be_set_once_but_not_changed_or_removed() {
        let (registry, rt) = test_registry();
        let set = run_with(
            &registry,
            &rt,
            &minimal_user(),
            json!([{"op": "add", "path": "badge", "value": "B-1"}]),
        )
        .unwrap();
        assert_eq!(set.resource, with_test_ext(json!({"badge": "B-1"})));

        let same = run_with(
            &registry,
            &rt,
            &set.resource,
            json!([{"op": "replace", "path": format!("{TEST_EXT}:badge"), "value": "B-1"}]),
        )
        .unwrap();
        assert!(!same.changed);

        for op in [
            json!({"op": "replace", "path": "badge", "value": "B-2"}),
            json!({"op": "replace", "value": {format!("{TEST_EXT}:badge"): "B-2"}}),
            json!({"op": "remove", "path": "badge"}),
        ] {
            let e = run_with(&registry, &rt, &set.resource, json!([op])).unwrap_err();
            assert_eq!(
                e.scim_type(),
                Some(crate::ScimType::Mutability),
                "{op}: {e}"
            );
        }
        let e = run_with(
            &registry,
            &rt,
            &set.resource,
            json!([{"op": "remove", "path": "badge"}]),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "'badge' is immutable and cannot be removed");
    }

    #[test]
    fn simple_multi_valued_attribute() {
        let (registry, rt) = test_registry();
        let out = run_with(
            &registry,
            &rt,
            &with_test_ext(json!({"tags": ["a", "b"]})),
            json!([
                {"op": "add", "path": "tags", "value": ["b", "c"]},
                {"op": "remove", "path": "tags[value eq \"a\"]"},
                {"op": "add", "path": "tags[value eq \"d\"]", "value": "d"},
                {"op": "remove", "path": "tags", "value": ["c"]}
            ]),
        )
        .unwrap();
        assert_eq!(out.resource, with_test_ext(json!({"tags": ["b", "d"]})));
    }

    #[test]
    fn removing_a_required_value_is_mutability() {
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "remove", "path": "userName"}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::Mutability));
        assert_eq!(
            e.to_string(),
            "'userName' is required and cannot be removed"
        );
        let e = err(
            "Group",
            &group(),
            json!([{"op": "Remove", "path": "displayName"}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::Mutability));
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "userName", "value": null}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::Mutability));

        let (registry, rt) = test_registry();
        let e = run_with(
            &registry,
            &rt,
            &with_test_ext(json!({"clearance": {"level": 3, "since": "2020-01-01T00:00:00Z"}})),
            json!([{"op": "remove", "path": "clearance.level"}]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "'clearance.level' is required and cannot be removed"
        );
    }

    #[test]
    fn read_only_path_is_mutability() {
        for path in ["id", "meta", "meta.created", "groups", "members.display"] {
            let rt = if path.starts_with("members") {
                "Group"
            } else {
                "User"
            };
            let base = if rt == "Group" { group() } else { full_user() };
            for op in ["add", "replace", "remove"] {
                let e = err(rt, &base, json!([{"op": op, "path": path, "value": "x"}]));
                assert_eq!(
                    e.scim_type(),
                    Some(crate::ScimType::Mutability),
                    "{op} {path}"
                );
            }
        }
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "id", "value": "x"}]),
        );
        assert_eq!(e.to_string(), "'id' is readOnly and cannot be changed");
    }

    #[test]
    fn read_only_keys_in_a_value_object_are_ignored() {
        let u = full_user();
        let mut echoed = u.clone();
        echoed.as_object_mut().unwrap().remove("schemas");
        echoed["id"] = json!("someone-else");
        echoed["meta"] = json!({"version": "W/\"1\""});
        echoed["groups"] = json!([{"value": "g1"}]);
        let out = run("User", &u, json!([{"op": "replace", "value": echoed}])).unwrap();
        assert!(!out.changed);
        assert_eq!(out.resource, u);
    }

    #[test]
    fn unknown_attribute_is_invalid_path() {
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "shoeSize", "value": 9}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidPath));
        assert_eq!(
            e.to_string(),
            "invalid path: 'shoeSize': no attribute 'shoeSize' in resource type User"
        );
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "add", "path": "name.nick", "value": "x"}]),
        );
        assert_eq!(
            e.to_string(),
            "invalid path: 'name.nick': attribute 'name' has no sub-attribute 'nick'"
        );
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "add", "value": {"name.nick": "x"}}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidPath));
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "add", "path": format!("{ENT}:shoeSize"), "value": "x"}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidPath), "{e}");
    }

    #[test]
    fn filter_on_single_valued_attribute_is_invalid_path() {
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "name[givenName eq \"Barbara\"].familyName", "value": "x"}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidPath));
        assert_eq!(
            e.to_string(),
            "invalid path: 'name[givenName eq \"Barbara\"].familyName': attribute 'name' is \
             single-valued, so it cannot take a value filter"
        );
    }

    #[test]
    fn filter_naming_no_sub_attribute_is_invalid_filter() {
        let e = err(
            "Group",
            &group(),
            json!([{"op": "remove", "path": "members[valeu eq \"x\"]"}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidFilter), "{e}");
    }

    #[test]
    fn wrong_type_is_invalid_value_naming_the_attribute() {
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidValue));
        assert!(e.to_string().contains("'active'"), "{e}");
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "add", "path": "emails[type eq \"work\"].primary", "value": 7}]),
        );
        assert_eq!(
            e.to_string(),
            "attribute 'emails.primary' must be a boolean (true or false), got 7"
        );
        let e = err(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "name", "value": 7}]),
        );
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidValue), "{e}");
        assert!(e.to_string().contains("'name'"), "{e}");
    }

    #[test]
    fn malformed_operations() {
        let e = ops_of(json!([])).unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidValue));
        let e = ops_of(json!([{"op": "remove"}])).unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::ScimType::NoTarget));
        assert_eq!(
            e.to_string(),
            "operation 1 (remove) needs a \"path\" (RFC 7644 §3.5.2.2)"
        );
        let e = ops_of(
            json!([{"op": "add", "path": "title", "value": "x"}, {"op": "replace", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "operation 2 (replace) has no \"path\", so its \"value\" must be an object of attributes"
        );
        let e = ops_of(json!([{"op": "add", "path": "emails[type eq", "value": "x"}])).unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidPath));
    }

    // ---- primary, atomicity, idempotence ----

    #[test]
    fn explicit_limits_bound_paths_and_values() {
        let registry = Registry::rfc7643();
        let rt = registry.resource_type("User").unwrap();
        let user = minimal_user();
        let limits = Limits {
            max_value_bytes: 20,
            max_multi_values: 2,
        };
        let limited = |ops: Value| {
            apply_with(&registry, rt, &user, &ops_of(ops)?, &limits).map(|o| o.resource)
        };
        let long_name =
            json!([{"op": "replace", "path": "displayName", "value": "twenty-one-bytes-long"}]);
        assert_eq!(
            limited(long_name.clone()).unwrap_err().to_string(),
            "attribute 'displayName' is 21 bytes long; the limit is 20 bytes"
        );
        assert!(run("User", &user, long_name).is_ok());
        assert_eq!(
            limited(json!([{"op": "add", "value": {"nickName": "twenty-one-bytes-long"}}]))
                .unwrap_err()
                .to_string(),
            "attribute 'nickName' is 21 bytes long; the limit is 20 bytes"
        );
        let three = json!([{"op": "add", "path": "emails", "value": [
            {"value": "a@x"}, {"value": "b@x"}, {"value": "c@x"}
        ]}]);
        assert_eq!(
            limited(three.clone()).unwrap_err().to_string(),
            "attribute 'emails' has 3 values; the limit is 2"
        );
        assert!(run("User", &user, three).is_ok());
        // Looser than the defaults: a 70 KiB value the defaults refuse.
        let loose = Limits {
            max_value_bytes: 128 * 1024,
            ..Limits::default()
        };
        let big = json!([{"op": "replace", "path": "displayName", "value": "x".repeat(70 * 1024)}]);
        assert!(run("User", &user, big.clone()).is_err());
        assert!(apply_with(&registry, rt, &user, &ops_of(big).unwrap(), &loose).is_ok());
        // The paths' value filters are held to the filter limits given.
        let req: PatchRequest = crate::messages::from_value(json!({
            "schemas": [urn::PATCH_OP],
            "Operations": [{"op": "remove", "path": "emails[(type eq \"work\")]"}],
        }))
        .unwrap();
        assert!(parse_operations(&req).is_ok());
        let shallow = filter::Limits {
            max_depth: 1,
            ..filter::Limits::default()
        };
        assert_eq!(
            parse_operations_with(&req, &shallow)
                .unwrap_err()
                .to_string(),
            "invalid path: the filter nests deeper than 1 levels of brackets, 'not' and value \
             paths at column 8\n  emails[(type eq \"work\")]\n         ^"
        );
    }

    #[test]
    fn new_primary_demotes_the_old_one() {
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "add", "path": "emails", "value": [
                {"value": "new@example.com", "type": "other", "primary": "True"}
            ]}]),
        );
        let mut expected = full_user();
        expected["emails"][0]["primary"] = json!(false);
        expected["emails"]
            .as_array_mut()
            .unwrap()
            .push(json!({"value": "new@example.com", "type": "other", "primary": true}));
        assert_eq!(out, expected);

        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        );
        let mut expected = full_user();
        expected["emails"][0]["primary"] = json!(false);
        expected["emails"][1]["primary"] = json!(true);
        assert_eq!(out, expected);
    }

    #[test]
    fn a_failing_operation_leaves_everything_unchanged() {
        let registry = Registry::rfc7643();
        let rt = registry.resource_type("User").unwrap();
        let original = full_user();
        let ops = ops_of(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "add", "path": "title", "value": "Changed"},
            {"op": "replace", "path": "emails[type eq \"fax\"]", "value": {"value": "x"}}
        ]))
        .unwrap();
        let e = apply(&registry, rt, &original, &ops).unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::ScimType::NoTarget));
        assert_eq!(original, full_user());

        // One operation whose value object fails half-way is undone as a whole.
        let mut resource = full_user();
        let op = &ops_of(json!([{"op": "replace", "value": {"title": "Changed", "shoeSize": 9}}]))
            .unwrap()[0];
        assert!(apply_operation(&registry, rt, &mut resource, op).is_err());
        assert_eq!(resource, full_user());
    }

    #[test]
    fn idempotent_operations_change_nothing() {
        let u = full_user();
        for op in [
            json!({"op": "replace", "path": "displayName", "value": "Babs Jensen"}),
            json!({"op": "Replace", "path": "active", "value": "True"}),
            json!({"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}),
            json!({"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org"}]}),
            json!({"op": "replace", "path": "emails[type eq \"work\"].value", "value": "bjensen@example.com"}),
            json!({"op": "replace", "value": {"name.givenName": "Barbara", "nickName": "Babs"}}),
            json!({"op": "remove", "path": "x509Certificates"}),
            json!({"op": "remove", "path": format!("{ENT}:manager")}),
        ] {
            let out = run("User", &u, json!([op])).unwrap();
            assert!(!out.changed, "{op}");
            assert_eq!(out.resource, u, "{op}");
        }
        let out = run(
            "Group",
            &group(),
            json!([{"op": "Add", "path": "members", "value": [{"value": BABS}]}]),
        )
        .unwrap();
        assert!(!out.changed);
        // A change undone by a later operation of the same request is no change.
        let out = run(
            "User",
            &u,
            json!([
                {"op": "replace", "path": "title", "value": "Boss"},
                {"op": "replace", "path": "title", "value": "Tour Guide"}
            ]),
        )
        .unwrap();
        assert!(!out.changed);
    }

    #[test]
    fn apply_operation_reports_change() {
        let registry = Registry::rfc7643();
        let rt = registry.resource_type("Group").unwrap();
        let mut g = group();
        let add = &ops_of(json!([{"op": "add", "path": "members", "value": [{"value": JAMES}]}]))
            .unwrap()[0];
        assert_eq!(apply_operation(&registry, rt, &mut g, add), Ok(true));
        assert_eq!(apply_operation(&registry, rt, &mut g, add), Ok(false));
        assert_eq!(g["members"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn last_extension_attribute_removed_drops_the_extension() {
        let mut u = minimal_user();
        u["schemas"] = json!([urn::USER, ENT]);
        u[ENT] = json!({"employeeNumber": "7"});
        let out = patched(
            "User",
            &u,
            json!([{"op": "remove", "path": format!("{ENT}:employeeNumber")}]),
        );
        assert_eq!(out, minimal_user());
    }

    #[test]
    fn null_value_unassigns() {
        let out = patched(
            "User",
            &full_user(),
            json!([
                {"op": "replace", "path": "nickName", "value": null},
                {"op": "replace", "path": "name", "value": {"middleName": null}},
                {"op": "replace", "value": {"title": null}}
            ]),
        );
        let mut expected = full_user();
        let obj = expected.as_object_mut().unwrap();
        obj.remove("nickName");
        obj.remove("title");
        expected["name"]
            .as_object_mut()
            .unwrap()
            .remove("middleName");
        assert_eq!(out, expected);
    }

    #[test]
    fn sub_attribute_of_multi_valued_without_filter_applies_to_all() {
        let out = patched(
            "User",
            &full_user(),
            json!([{"op": "replace", "path": "phoneNumbers.type", "value": "other"}]),
        );
        let mut expected = full_user();
        expected["phoneNumbers"][0]["type"] = json!("other");
        expected["phoneNumbers"][1]["type"] = json!("other");
        assert_eq!(out, expected);
    }

    // ---- the law: add then remove restores ----

    mod law {
        use proptest::prelude::*;

        use super::*;

        const SINGULAR: &[&str] = &[
            "nickName",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "displayName",
            "name.middleName",
            "name.givenName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ];
        const MULTI: &[&str] = &["emails", "phoneNumbers", "ims", "entitlements", "roles"];

        #[derive(Debug, Clone)]
        enum Case {
            /// An absent singular attribute, added by path or by a path-less value object.
            Singular {
                path: &'static str,
                value: String,
                by_path: bool,
            },
            /// A new element, added in one of three forms and removed in one of two.
            Element {
                attr: &'static str,
                value: String,
                kind: &'static str,
                form: u8,
                by_filter: bool,
            },
        }

        fn case() -> impl Strategy<Value = Case> {
            prop_oneof![
                (
                    prop::sample::select(SINGULAR),
                    "[A-Za-z0-9 ]{1,12}",
                    any::<bool>()
                )
                    .prop_map(|(path, value, by_path)| Case::Singular {
                        path,
                        value,
                        by_path
                    }),
                (
                    prop::sample::select(MULTI),
                    "pt-[a-z0-9.@]{1,12}",
                    prop::sample::select(&["work", "home", "other"][..]),
                    0u8..3,
                    any::<bool>(),
                )
                    .prop_map(|(attr, value, kind, form, by_filter)| {
                        Case::Element {
                            attr,
                            value,
                            kind,
                            form,
                            by_filter,
                        }
                    }),
            ]
        }

        fn add_and_remove(case: &Case) -> (Value, Value) {
            match case {
                Case::Singular {
                    path,
                    value,
                    by_path,
                } => {
                    let add = if *by_path {
                        json!({"op": "add", "path": path, "value": value})
                    } else {
                        json!({"op": "add", "value": {*path: value}})
                    };
                    (add, json!({"op": "remove", "path": path}))
                }
                Case::Element {
                    attr,
                    value,
                    kind,
                    form,
                    by_filter,
                } => {
                    let element = json!({"value": value, "type": kind});
                    let add = match form {
                        0 => json!({"op": "add", "path": attr, "value": [element]}),
                        1 => json!({"op": "add", "value": {*attr: [element]}}),
                        _ => json!({
                            "op": "add",
                            "path": format!("{attr}[value eq \"{value}\"].type"),
                            "value": kind
                        }),
                    };
                    let remove = if *by_filter {
                        json!({"op": "remove", "path": format!("{attr}[value eq \"{value}\"]")})
                    } else {
                        json!({"op": "remove", "path": attr, "value": [{"value": value}]})
                    };
                    (add, remove)
                }
            }
        }

        fn absent(base: &Value, case: &Case) -> bool {
            let Case::Singular { path, .. } = case else {
                return true;
            };
            let registry = Registry::rfc7643();
            let rt = registry.resource_type("User").unwrap();
            let path = AttrPath::parse(path).unwrap();
            crate::path::values_at(base, &registry, rt, &path).is_empty()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn add_then_remove_restores(case in case(), full in any::<bool>()) {
                let base = if full { full_user() } else { minimal_user() };
                prop_assume!(absent(&base, &case));
                let (add, remove) = add_and_remove(&case);
                let added = run("User", &base, json!([add])).unwrap();
                prop_assert!(added.changed);
                let removed = run("User", &added.resource, json!([remove])).unwrap();
                prop_assert!(removed.changed);
                prop_assert_eq!(removed.resource, base);
            }
        }
    }
}
