//! Schema validation of a resource on create (POST) and replace (PUT, and the result of PATCH).
//!
//! [`validate`] takes what a client sent and returns the canonical resource to store, or the
//! one error that tells the client what to fix. Canonical means: attribute names spelt as the
//! schema spells them (input names are case-insensitive, RFC 7643 §2.1), attributes in schema
//! order, extension data under its canonical URN key, booleans as JSON booleans, and `schemas`
//! rebuilt from what is actually present. Two requests that mean the same thing store the same
//! bytes, so an idempotent PUT or PATCH leaves the version (ETag) unchanged.
//!
//! # Decisions
//!
//! * **Attributes no schema defines** are rejected with 400 `invalidSyntax`, naming the
//!   attribute and the resource type. RFC 7644 §3.3 has the server process "the attributes
//!   defined in the schemas"; it neither allows storing others nor requires dropping them.
//!   Dropping silently would let a client believe a misspelt or unconfigured attribute was
//!   saved; storing it would serve data no schema describes. A `null` for an unknown attribute
//!   is ignored: it asks for nothing to be stored (RFC 7643 §2.5).
//! * **`schemas`** is rebuilt as the core URN plus the URN of each extension that has data.
//!   A URN listed without data is dropped, whether an extension of this resource type or one
//!   unknown here: Entra lists `http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group`
//!   on every group create and sends nothing under it. Extension data whose URN is missing
//!   from `schemas` is accepted (the key says which schema it is). A missing `schemas`, or one
//!   without the core URN, is accepted, as the endpoint already says the resource type; but a
//!   `schemas` naming the core schema of *another* resource type (a Group posted to `/Users`)
//!   is 400 `invalidSyntax`, as that request is misrouted.
//! * **A single value for a multi-valued attribute** is accepted and stored as a one-element
//!   array, and a one-element array for a single-valued attribute as its element: clients
//!   (Entra's manager, Okta's roles) send both shapes, and the meaning is unambiguous. A scalar
//!   for a complex attribute that has a `value` sub-attribute becomes `{"value": scalar}`
//!   (Entra sends `"manager": "<id>"`).
//! * **Extension attributes without their URN** at the top level are accepted when exactly
//!   one extension of the resource type defines the name, mirroring
//!   [`Registry::resolve`](crate::schema::Registry::resolve).
//! * **`null` and `[]`** mean unassigned (RFC 7643 §2.5): the attribute is absent.
//! * **readOnly** attributes and sub-attributes in the input are ignored (RFC 7644 §3.5.1). On
//!   replace, the existing readOnly top-level values (`id`, `meta`, server-computed extension
//!   attributes) are kept, as the client cannot change them.
//! * **immutable**: on replace, a value that differs from an existing one is 400 `mutability`;
//!   an omitted one keeps the existing value, since it cannot be cleared either (likewise a
//!   singular complex value holding an immutable sub-attribute). Within
//!   multi-valued complex attributes (`members.value`) elements have no identity across a
//!   replace, so the immutability of their sub-attributes is not enforced here.
//! * **writeOnly** values (`password`) are kept like readWrite ones; projection never returns
//!   them. Like any readWrite attribute, a replace that omits one clears it (RFC 7644 §3.5.1
//!   lets the server treat an omitted attribute as cleared).
//! * **canonicalValues** are advisory (RFC 7643 §7: "MAY"/"SHOULD"): other values are accepted.
//! * **Strings** are bounded by [`Limits::max_value_bytes`] and multi-valued attributes by
//!   [`Limits::max_multi_values`]; exceeding either is 400 `invalidValue` stating the limit.
//!
//! # Cost
//!
//! PATCH validates the whole patched resource on every request, so validation is on the hot
//! path and is written not to copy what is already canonical: [`validate_owned`] takes the
//! resource by value and moves every value that needs no change into the result (a stored
//! resource is canonical, so after a PATCH only the touched values are rebuilt), a complex
//! value is rebuilt only when its keys are not already the schema's names in schema order, and
//! the name of an attribute for an error message (`emails[1].value`) is formatted only when an
//! error is produced.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::schema::{
    AttrType, Attribute, Mutability, Registry, ResourceType, Schema, common_attribute,
};

/// What the validated input is for.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// A new resource (POST).
    Create,
    /// A full replacement (PUT, or the result of a PATCH) of the stored `existing` resource.
    Replace { existing: &'a Value },
    /// Part of a resource: the top-level attributes a PATCH rewrote, validated as
    /// [`Mode::Replace`] would validate them, against `existing`, which holds the stored values
    /// of the same attributes only. `kept` names the stored resource's other top-level keys
    /// (attribute names and extension URNs, spelled as the schemas spell them), which the
    /// caller keeps as they are: they count as present for `required`, and an extension among
    /// them stays listed in `schemas`. The result holds the rewritten attributes and
    /// `schemas`.
    Part {
        existing: &'a Value,
        kept: &'a [&'a str],
    },
}

/// Size bounds on what a client may store, so one request cannot make a resource unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string value (string, reference, binary, dateTime), in bytes.
    pub max_value_bytes: usize,
    /// Most values in one multi-valued attribute (e.g. `members`).
    pub max_multi_values: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_value_bytes: 64 * 1024,
            max_multi_values: 10_000,
        }
    }
}

/// Validates `input` as a resource of type `rt` with the default [`Limits`] and returns the
/// canonical resource to store.
pub fn validate(
    registry: &Registry,
    rt: &ResourceType,
    input: &Value,
    mode: Mode<'_>,
) -> Result<Value, Error> {
    validate_with(registry, rt, input, mode, &Limits::default())
}

/// [`validate`] with explicit limits.
pub fn validate_with(
    registry: &Registry,
    rt: &ResourceType,
    input: &Value,
    mode: Mode<'_>,
    limits: &Limits,
) -> Result<Value, Error> {
    validate_owned(registry, rt, input.clone(), mode, limits)
}

/// [`validate_with`] taking the input by value: values already in canonical form are moved
/// into the result instead of copied, which is what makes validating a patched resource cheap.
pub fn validate_owned(
    registry: &Registry,
    rt: &ResourceType,
    input: Value,
    mode: Mode<'_>,
    limits: &Limits,
) -> Result<Value, Error> {
    let mut input = match input {
        Value::Object(input) => input,
        other => {
            return Err(Error::InvalidSyntax(format!(
                "a {} resource must be a JSON object, got {}",
                rt.name,
                shown(&other)
            )));
        }
    };
    let core = registry.schema(&rt.schema).ok_or_else(|| {
        Error::InvalidValue(format!(
            "resource type {} names schema {}, which is not loaded",
            rt.name, rt.schema
        ))
    })?;
    let mut buckets = Vec::with_capacity(1 + rt.schema_extensions.len());
    buckets.push(Bucket::new(core, false));
    for ext in &rt.schema_extensions {
        let schema = registry.schema(&ext.schema).ok_or_else(|| {
            Error::InvalidValue(format!(
                "resource type {} names extension {}, which is not loaded",
                rt.name, ext.schema
            ))
        })?;
        buckets.push(Bucket::new(schema, true));
    }
    let ctx = Ctx { rt, limits };
    let mut external_id: Option<(&str, Value)> = None;
    let mut listed: Option<Vec<&str>> = None;
    // readOnly common attributes (`id`, `meta`) as the input echoed them: the stored ones win,
    // but an equal echo is moved into the result instead of copying the stored one.
    let mut echoed: Vec<(&str, Value)> = Vec::new();

    for (key, value) in input.iter_mut() {
        let key = key.as_str();
        if key.eq_ignore_ascii_case("schemas") {
            listed = schemas_listed(value)?;
            continue;
        }
        if let Some(b) = buckets
            .iter()
            .position(|b| b.schema.id.eq_ignore_ascii_case(key))
        {
            match value {
                Value::Null => {}
                Value::Object(obj) => {
                    for (k, v) in obj.iter_mut() {
                        buckets[b].put(&ctx, k, std::mem::take(v), &Label::Urn(key, k))?;
                    }
                }
                other => {
                    return Err(Error::InvalidSyntax(format!(
                        "'{}' must be an object holding that schema's attributes, got {}",
                        buckets[b].schema.id,
                        shown(other)
                    )));
                }
            }
            continue;
        }
        if let Some((b, name)) = urn_qualified(&buckets, key) {
            buckets[b].put(&ctx, name, std::mem::take(value), &Label::Name(key))?;
            continue;
        }
        if let Some(common) = common_attribute(key) {
            if common.mutability == Mutability::ReadOnly {
                echoed.push((common.name.as_str(), std::mem::take(value)));
                continue;
            }
            if let Some((prev, _)) = &external_id {
                return Err(twice(&common.name, prev, key));
            }
            let v = canon(
                common,
                std::mem::take(value),
                &Label::Name(&common.name),
                limits,
            )?;
            external_id = Some((key, v));
            continue;
        }
        if buckets[0].schema.attribute(key).is_some() {
            buckets[0].put(&ctx, key, std::mem::take(value), &Label::Name(key))?;
            continue;
        }
        let mut defining = buckets[1..]
            .iter()
            .enumerate()
            .filter(|(_, b)| b.schema.attribute(key).is_some());
        match (defining.next(), defining.next()) {
            (Some((i, _)), None) => {
                let b = i + 1;
                let urn = buckets[b].schema.id.as_str();
                buckets[b].put(&ctx, key, std::mem::take(value), &Label::Urn(urn, key))?;
            }
            _ if value.is_null() => {}
            _ => return Err(ctx.unknown(&key)),
        }
    }

    if let Some(listed) = &listed {
        for urn in listed {
            if let Some(other) = registry.resource_types().iter().find(|r| {
                r.schema.eq_ignore_ascii_case(urn) && !r.schema.eq_ignore_ascii_case(&rt.schema)
            }) {
                return Err(Error::InvalidSyntax(format!(
                    "'schemas' lists {urn}, the core schema of {}, but this endpoint ({}) serves {}",
                    other.name, rt.endpoint, rt.name
                )));
            }
        }
    }

    let (existing, elsewhere): (_, &[&str]) = match mode {
        Mode::Create => (None, &[]),
        Mode::Replace { existing } => (existing.as_object(), &[]),
        Mode::Part { existing, kept } => (existing.as_object(), kept),
    };
    if let Some(existing) = existing {
        for b in &mut buckets {
            let old = if b.extension {
                get_ci(existing, &b.schema.id).and_then(Value::as_object)
            } else {
                Some(existing)
            };
            if let Some(old) = old {
                b.merge_existing(old)?;
            }
        }
    }

    for (b, ext) in buckets[1..].iter().zip(&rt.schema_extensions) {
        if ext.required && b.is_empty() && !elsewhere.contains(&b.schema.id.as_str()) {
            return Err(Error::InvalidValue(format!(
                "resource type {} requires the extension {}: send its attributes under the key \"{}\"",
                rt.name, b.schema.id, b.schema.id
            )));
        }
    }
    for b in &buckets {
        if !b.extension {
            b.check_required(rt, elsewhere)?;
        } else if !b.is_empty() {
            b.check_required(rt, &[])?;
        }
    }
    // The extensions `schemas` lists: those with values here, and those kept elsewhere.
    let listed_extensions: Vec<&str> = buckets[1..]
        .iter()
        .filter(|b| !b.is_empty() || elsewhere.contains(&b.schema.id.as_str()))
        .map(|b| b.schema.id.as_str())
        .collect();

    // The result in canonical order, keyed by names borrowed from the schemas. Once the
    // buckets (which borrow the input's keys) are gone, the input, whose values have all been
    // taken, is refilled when it already holds these keys in this order.
    let mut kept = |name: &str| {
        let stored = existing
            .and_then(|e| get_ci(e, name))
            .filter(|v| !v.is_null())?;
        match echoed.iter().position(|(n, v)| *n == name && v == stored) {
            Some(i) => Some(echoed.swap_remove(i).1),
            None => Some(stored.clone()),
        }
    };
    let id = kept("id");
    let meta = kept("meta");
    let mut buckets = buckets.into_iter();
    let core_values = buckets.next().map(Bucket::entries).unwrap_or_default();
    let mut entries: Vec<(&str, Value)> = Vec::with_capacity(4 + core_values.len() + 2);
    entries.push(("schemas", Value::Null)); // filled in below
    if let Some(id) = id {
        entries.push(("id", id));
    }
    if let Some((_, v)) = external_id.filter(|(_, v)| !v.is_null()) {
        entries.push(("externalId", v));
    }
    if let Some(meta) = meta {
        entries.push(("meta", meta));
    }
    entries.extend(core_values);
    let extensions: Vec<(&str, Vec<(&str, Value)>)> = buckets
        .filter(|b| !b.is_empty())
        .map(|b| (b.schema.id.as_str(), b.entries()))
        .collect();
    entries[0].1 = schemas_value(
        &mut input,
        std::iter::once(core.id.as_str()).chain(listed_extensions.iter().copied()),
    );
    for (urn, values) in extensions {
        let reuse = match input.get_mut(urn).map(std::mem::take) {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        };
        entries.push((urn, Value::Object(refill(reuse, values))));
    }
    Ok(Value::Object(refill(Some(input), entries)))
}

/// Type-checks and canonicalizes one value for one attribute definition, with the default
/// [`Limits`].
///
/// An array for a multi-valued attribute is checked element by element and returned as an
/// array; any other value is taken as one element and returned as one element (not wrapped), so
/// PATCH can canonicalize a single value it is about to add. `null`, `[]`, and a complex value
/// left empty once readOnly sub-attributes are dropped all come back as `null` (unassigned).
pub fn canonicalize_value(attr: &Attribute, value: &Value) -> Result<Value, Error> {
    canonicalize_value_with(attr, value, &Limits::default())
}

/// [`canonicalize_value`] with explicit limits.
pub fn canonicalize_value_with(
    attr: &Attribute,
    value: &Value,
    limits: &Limits,
) -> Result<Value, Error> {
    canonicalize_owned(attr, value.clone(), limits)
}

/// [`canonicalize_value_with`] taking the value by value, for PATCH, which owns what it adds.
pub(crate) fn canonicalize_owned(
    attr: &Attribute,
    value: Value,
    limits: &Limits,
) -> Result<Value, Error> {
    canon(attr, value, &Label::Name(&attr.name), limits)
}

/// Rejects a change to an immutable attribute (RFC 7643 §2.2): once it has a value, a new value
/// must be equal under the attribute's rules (`caseExact`, dateTime as time, multi-valued as a
/// set). Setting a value where there was none is allowed; attributes of other mutabilities
/// always pass. `path` names the attribute in the error.
pub fn check_immutable(
    path: &str,
    attr: &Attribute,
    existing: Option<&Value>,
    new: Option<&Value>,
) -> Result<(), Error> {
    immutable_at(&path, attr, existing, new)
}

fn immutable_at(
    path: &dyn fmt::Display,
    attr: &Attribute,
    existing: Option<&Value>,
    new: Option<&Value>,
) -> Result<(), Error> {
    if attr.mutability != Mutability::Immutable {
        return Ok(());
    }
    match (
        existing.filter(|v| !is_absent(v)),
        new.filter(|v| !is_absent(v)),
    ) {
        (Some(old), Some(new)) if !values_equal(attr, old, new) => Err(Error::Mutability(format!(
            "attribute '{path}' is immutable: it is already {} and cannot be changed to {}",
            shown(old),
            shown(new)
        ))),
        _ => Ok(()),
    }
}

/// Whether two values of `attr` are equal under its matching rules: strings per `caseExact`,
/// numbers numerically, dateTimes as instants, complex values sub-attribute by sub-attribute,
/// multi-valued attributes regardless of order.
pub fn values_equal(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (attr.multi_valued, a, b) {
        (true, Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|x| ys.iter().any(|y| element_equal(attr, x, y)))
                && ys
                    .iter()
                    .all(|y| xs.iter().any(|x| element_equal(attr, x, y)))
        }
        _ => element_equal(attr, a, b),
    }
}

fn element_equal(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (attr.kind, a, b) {
        (AttrType::String | AttrType::Reference, Value::String(x), Value::String(y)) => {
            if attr.case_exact {
                x == y
            } else {
                x.to_lowercase() == y.to_lowercase()
            }
        }
        (AttrType::Decimal | AttrType::Integer, Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (AttrType::DateTime, Value::String(x), Value::String(y)) => {
            match (parse_date_time(x), parse_date_time(y)) {
                (Some(x), Some(y)) => x == y,
                _ => x == y,
            }
        }
        (AttrType::Complex, Value::Object(x), Value::Object(y)) => {
            attr.sub_attributes.iter().all(|sub| {
                let (sx, sy) = (get_ci(x, &sub.name), get_ci(y, &sub.name));
                match (sx.filter(|v| !is_absent(v)), sy.filter(|v| !is_absent(v))) {
                    (None, None) => true,
                    (Some(sx), Some(sy)) => values_equal(sub, sx, sy),
                    _ => false,
                }
            })
        }
        _ => a == b,
    }
}

struct Ctx<'a> {
    rt: &'a ResourceType,
    limits: &'a Limits,
}

impl Ctx<'_> {
    fn unknown(&self, key: &dyn fmt::Display) -> Error {
        let schemas: Vec<&str> = std::iter::once(self.rt.schema.as_str())
            .chain(self.rt.schema_extensions.iter().map(|e| e.schema.as_str()))
            .collect();
        Error::InvalidSyntax(format!(
            "attribute '{key}' is not defined by any schema of resource type {} ({})",
            self.rt.name,
            schemas.join(", ")
        ))
    }
}

/// Where a value sits, to name it in an error message: `userName`, `urn:…:User:manager`,
/// `emails[1].value`. Built on the stack as validation descends and formatted only when an
/// error is produced, since naming every value up front cost more than checking it.
#[derive(Clone, Copy)]
enum Label<'a> {
    /// A name as is.
    Name(&'a str),
    /// `urn:name`.
    Urn(&'a str, &'a str),
    /// `parent.sub`.
    Sub(&'a Label<'a>, &'a str),
    /// `parent[i]`.
    Index(&'a Label<'a>, usize),
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Name(name) => f.write_str(name),
            Label::Urn(urn, name) => write!(f, "{urn}:{name}"),
            Label::Sub(parent, sub) => write!(f, "{parent}.{sub}"),
            Label::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// The values collected for one schema (the core schema or one extension), indexed like its
/// attributes, with the input key each came from for duplicate-key messages.
struct Bucket<'s, 'k> {
    schema: &'s Schema,
    extension: bool,
    values: Vec<Option<Value>>,
    keys: Vec<Option<&'k str>>,
}

impl<'s, 'k> Bucket<'s, 'k> {
    fn new(schema: &'s Schema, extension: bool) -> Bucket<'s, 'k> {
        let n = schema.attributes.len();
        Bucket {
            schema,
            extension,
            values: vec![None; n],
            keys: vec![None; n],
        }
    }

    /// Adds one input attribute. `path` names it in errors (URN-qualified for extensions).
    fn put(
        &mut self,
        ctx: &Ctx<'_>,
        key: &'k str,
        value: Value,
        path: &Label<'_>,
    ) -> Result<(), Error> {
        let Some(i) = self
            .schema
            .attributes
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(key))
        else {
            if value.is_null() {
                return Ok(());
            }
            return Err(ctx.unknown(path));
        };
        let attr = &self.schema.attributes[i];
        if let Some(prev) = self.keys[i] {
            return Err(twice(path, prev, key));
        }
        self.keys[i] = Some(key);
        if attr.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        let v = canon(attr, value, &self.label(attr), ctx.limits)?;
        let v = match v {
            Value::Null => None,
            Value::Array(_) => Some(v),
            single if attr.multi_valued => Some(Value::Array(vec![single])),
            single => Some(single),
        };
        self.values[i] = v;
        Ok(())
    }

    /// Applies the replace rules against the stored values of this schema: readOnly values
    /// are kept, immutable ones may not change and are kept when omitted.
    fn merge_existing(&mut self, old: &Map<String, Value>) -> Result<(), Error> {
        let schema = self.schema;
        for (i, attr) in schema.attributes.iter().enumerate() {
            let singular_complex = attr.kind == AttrType::Complex && !attr.multi_valued;
            if !singular_complex
                && matches!(
                    attr.mutability,
                    Mutability::ReadWrite | Mutability::WriteOnly
                )
            {
                // Nothing of the stored value is kept or compared.
                continue;
            }
            let prev = get_ci(old, &attr.name).filter(|v| !is_absent(v));
            let label = self.label(attr);
            match attr.mutability {
                Mutability::ReadOnly => self.values[i] = prev.cloned(),
                Mutability::Immutable => {
                    immutable_at(&label, attr, prev, self.values[i].as_ref())?;
                    if let Some(prev) = prev
                        && self.values[i].as_ref() != Some(prev)
                    {
                        self.values[i] = Some(prev.clone());
                    }
                }
                _ => {}
            }
            if singular_complex {
                let Some(Value::Object(prev)) = prev else {
                    continue;
                };
                let holds_immutable = attr.sub_attributes.iter().any(|sub| {
                    sub.mutability == Mutability::Immutable
                        && get_ci(prev, &sub.name).is_some_and(|v| !is_absent(v))
                });
                // A value just canonicalized is in order already; one copied from the stored
                // resource is put in order like before.
                let copied = attr.mutability != Mutability::ReadWrite
                    && attr.mutability != Mutability::WriteOnly;
                if !holds_immutable && !copied {
                    continue;
                }
                let Some(Value::Object(new)) = &mut self.values[i] else {
                    // Omitting the whole value would clear an immutable sub-attribute.
                    if holds_immutable {
                        self.values[i] = Some(Value::Object(prev.clone()));
                    }
                    continue;
                };
                for sub in &attr.sub_attributes {
                    if sub.mutability != Mutability::Immutable {
                        continue;
                    }
                    let Some(old_sub) = get_ci(prev, &sub.name).filter(|v| !is_absent(v)) else {
                        continue;
                    };
                    let path = Label::Sub(&label, &sub.name);
                    immutable_at(&path, sub, Some(old_sub), get_ci(new, &sub.name))?;
                    new.insert(sub.name.clone(), old_sub.clone());
                }
                *new = ordered_complex(attr, std::mem::take(new));
            }
        }
        Ok(())
    }

    /// `elsewhere` names attributes present outside this bucket (see [`Mode::Part`]).
    fn check_required(&self, rt: &ResourceType, elsewhere: &[&str]) -> Result<(), Error> {
        for (attr, value) in self.schema.attributes.iter().zip(&self.values) {
            match value {
                None if attr.required
                    && attr.mutability != Mutability::ReadOnly
                    && !elsewhere.contains(&attr.name.as_str()) =>
                {
                    return Err(Error::InvalidValue(format!(
                        "attribute '{}' is required for resource type {}",
                        self.label(attr),
                        rt.name
                    )));
                }
                Some(value) if attr.kind == AttrType::Complex => {
                    let elements = match value {
                        Value::Array(items) => items.as_slice(),
                        single => std::slice::from_ref(single),
                    };
                    for element in elements {
                        let Value::Object(obj) = element else {
                            continue;
                        };
                        for sub in &attr.sub_attributes {
                            if sub.required
                                && sub.mutability != Mutability::ReadOnly
                                && get_ci(obj, &sub.name).is_none_or(is_absent)
                            {
                                let path = self.label(attr);
                                return Err(Error::InvalidValue(format!(
                                    "sub-attribute '{path}.{}' is required in every '{path}' value",
                                    sub.name
                                )));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// How errors name `attr`: URN-qualified in an extension.
    fn label<'a>(&self, attr: &'a Attribute) -> Label<'a>
    where
        's: 'a,
    {
        if self.extension {
            Label::Urn(&self.schema.id, &attr.name)
        } else {
            Label::Name(&attr.name)
        }
    }

    fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    fn len(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }

    /// The values under their canonical names, in schema order.
    fn entries(self) -> Vec<(&'s str, Value)> {
        let mut out = Vec::with_capacity(self.len());
        for (a, v) in self.schema.attributes.iter().zip(self.values) {
            if let Some(v) = v {
                out.push((a.name.as_str(), v));
            }
        }
        out
    }
}

/// `schemas` for the result: the core URN and those of the extensions present. The input's
/// own list is taken when it says exactly that, as a stored resource's does.
fn schemas_value<'u>(
    input: &mut Map<String, Value>,
    urns: impl Iterator<Item = &'u str> + Clone,
) -> Value {
    if let Some(listed @ Value::Array(_)) = input.get_mut("schemas")
        && listed.as_array().is_some_and(|l| {
            l.len() == urns.clone().count()
                && l.iter()
                    .zip(urns.clone())
                    .all(|(l, u)| l.as_str() == Some(u))
        })
    {
        return std::mem::take(listed);
    }
    Value::Array(urns.map(|u| Value::String(u.to_owned())).collect())
}

/// `entries` as a map. `map`, when it holds exactly these keys in this order (a stored resource
/// does), is refilled in place so that its keys are reused; otherwise a new map is built.
fn refill(map: Option<Map<String, Value>>, entries: Vec<(&str, Value)>) -> Map<String, Value> {
    if let Some(mut map) = map
        && map.len() == entries.len()
        && map.keys().zip(&entries).all(|(k, (name, _))| k == name)
    {
        for (slot, (_, v)) in map.values_mut().zip(entries) {
            *slot = v;
        }
        return map;
    }
    let mut out = Map::with_capacity(entries.len());
    for (name, v) in entries {
        out.insert(name.to_owned(), v);
    }
    out
}

/// `urn:…:User:employeeNumber` as a top-level key: the attribute `employeeNumber` of the
/// schema whose URN prefixes the key.
fn urn_qualified<'k>(buckets: &[Bucket<'_, '_>], key: &'k str) -> Option<(usize, &'k str)> {
    buckets.iter().enumerate().find_map(|(i, b)| {
        let n = b.schema.id.len();
        let prefix = key.get(..n)?;
        let rest = key.get(n..)?.strip_prefix(':')?;
        (prefix.eq_ignore_ascii_case(&b.schema.id) && !rest.is_empty()).then_some((i, rest))
    })
}

/// The URNs a client listed in `schemas`; a lone string is taken as a one-element list.
fn schemas_listed(value: &Value) -> Result<Option<Vec<&str>>, Error> {
    let bad = || {
        Error::InvalidSyntax(format!(
            "'schemas' must be an array of schema URNs, got {}",
            shown(value)
        ))
    };
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(vec![s.as_str()])),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(bad()),
    }
}

fn canon(
    attr: &Attribute,
    value: Value,
    path: &Label<'_>,
    limits: &Limits,
) -> Result<Value, Error> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::Array(mut items) if attr.multi_valued => {
            if items.len() > limits.max_multi_values {
                return Err(Error::InvalidValue(format!(
                    "attribute '{path}' has {} values; the limit is {}",
                    items.len(),
                    limits.max_multi_values
                )));
            }
            // In place: the canonical elements are written back over the input's, and the
            // unassigned ones squeezed out.
            let mut kept = 0;
            for i in 0..items.len() {
                if items[i].is_array() {
                    return Err(Error::InvalidValue(format!(
                        "attribute '{path}[{i}]' must be one value, got an array"
                    )));
                }
                let item = std::mem::take(&mut items[i]);
                let v = canon_one(attr, item, &Label::Index(path, i), limits)?;
                if !v.is_null() {
                    items[kept] = v;
                    kept += 1;
                }
            }
            items.truncate(kept);
            if items.is_empty() {
                return Ok(Value::Null);
            }
            let primaries = items
                .iter()
                .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
                .count();
            if primaries > 1 {
                return Err(Error::InvalidValue(format!(
                    "attribute '{path}' has {primaries} values with \"primary\": true; at most one may be primary"
                )));
            }
            Ok(Value::Array(items))
        }
        Value::Array(mut items) => match items.as_slice() {
            [] => Ok(Value::Null),
            [one] if !one.is_array() => canon_one(attr, items.swap_remove(0), path, limits),
            _ => Err(Error::InvalidValue(format!(
                "attribute '{path}' is single-valued, got an array of {} values",
                items.len()
            ))),
        },
        single => canon_one(attr, single, path, limits),
    }
}

/// One (non-array) value of `attr`.
fn canon_one(
    attr: &Attribute,
    value: Value,
    path: &Label<'_>,
    limits: &Limits,
) -> Result<Value, Error> {
    let wrong = |expected: &str, value: &Value| {
        Error::InvalidValue(format!(
            "attribute '{path}' must be {expected}, got {}",
            shown(value)
        ))
    };
    if value.is_null() {
        return Ok(Value::Null);
    }
    match attr.kind {
        AttrType::String | AttrType::Reference => {
            let Value::String(s) = &value else {
                let expected = if attr.kind == AttrType::String {
                    "a string"
                } else {
                    "a reference (a URI string)"
                };
                return Err(wrong(expected, &value));
            };
            check_len(s, path, limits)?;
            Ok(value)
        }
        AttrType::Boolean => match &value {
            Value::Bool(_) => Ok(value),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong("a boolean (true or false)", &value)),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(value),
            _ => Err(wrong("a decimal number", &value)),
        },
        AttrType::Integer => {
            let Value::Number(n) = &value else {
                return Err(wrong("an integer", &value));
            };
            if n.is_i64() {
                return Ok(value);
            }
            const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
            match n.as_f64() {
                Some(f) if f.fract() != 0.0 => {
                    Err(wrong("an integer (no fractional part)", &value))
                }
                // In range, the cast is exact: `f` is integral and below 2^63 in magnitude.
                Some(f) if (-LIMIT..LIMIT).contains(&f) && !n.is_u64() => Ok(Value::from(f as i64)),
                _ => Err(wrong(
                    "an integer between -9223372036854775808 and 9223372036854775807",
                    &value,
                )),
            }
        }
        AttrType::DateTime => {
            let Some(s) = value.as_str().filter(|s| parse_date_time(s).is_some()) else {
                return Err(wrong(
                    "a dateTime such as \"2024-01-31T09:30:00Z\" (RFC 3339)",
                    &value,
                ));
            };
            check_len(s, path, limits)?;
            Ok(value)
        }
        AttrType::Binary => {
            let Some(s) = value.as_str() else {
                return Err(wrong("base64-encoded binary data (a string)", &value));
            };
            check_len(s, path, limits)?;
            if !is_base64(s.as_bytes()) {
                return Err(wrong(
                    "base64-encoded binary data (RFC 4648 standard alphabet)",
                    &value,
                ));
            }
            Ok(value)
        }
        AttrType::Complex => match value {
            Value::Object(obj) => canon_complex(attr, obj, path, limits),
            Value::String(_) | Value::Number(_) | Value::Bool(_)
                if attr.sub_attribute("value").is_some() =>
            {
                let mut obj = Map::with_capacity(1);
                obj.insert("value".into(), value);
                canon_complex(attr, obj, path, limits)
            }
            _ => Err(wrong("a complex value (a JSON object)", &value)),
        },
    }
}

/// Whether `bytes`, once ASCII whitespace is dropped (line-wrapped certificates), are standard
/// base64. Most values hold no whitespace and are checked as they are, without a copy;
/// whitespace is outside the alphabet, so only a value that fails that way can hold any.
fn is_base64(bytes: &[u8]) -> bool {
    if BASE64.decode(bytes).is_ok() {
        return true;
    }
    if !bytes.iter().any(u8::is_ascii_whitespace) {
        return false;
    }
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    BASE64.decode(compact).is_ok()
}

/// Sub-attribute counts up to which the duplicate-key check needs no allocation; the RFC
/// schemas have at most eight.
const STACK_SUBS: usize = 16;

fn canon_complex(
    attr: &Attribute,
    mut obj: Map<String, Value>,
    path: &Label<'_>,
    limits: &Limits,
) -> Result<Value, Error> {
    let n = attr.sub_attributes.len();
    let mut on_stack = [None; STACK_SUBS];
    let mut on_heap;
    let keys: &mut [Option<&str>] = if n <= STACK_SUBS {
        &mut on_stack[..n]
    } else {
        on_heap = vec![None; n];
        &mut on_heap
    };
    // The value is edited in place; only when its keys are not the canonical names in schema
    // order is it rebuilt, and only when something was dropped is it compacted.
    let mut rebuild = false;
    let mut dropped = false;
    let mut last: Option<usize> = None;
    for (key, v) in obj.iter_mut() {
        let Some(i) = attr
            .sub_attributes
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(key))
        else {
            if v.is_null() {
                dropped = true;
                continue;
            }
            let known: Vec<&str> = attr
                .sub_attributes
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            return Err(Error::InvalidSyntax(format!(
                "attribute '{path}' has no sub-attribute '{key}' (it has {})",
                known.join(", ")
            )));
        };
        let sub = &attr.sub_attributes[i];
        if let Some(prev) = keys[i] {
            return Err(twice(&Label::Sub(path, &sub.name), prev, key));
        }
        keys[i] = Some(key.as_str());
        if sub.mutability == Mutability::ReadOnly {
            *v = Value::Null;
            dropped = true;
            continue;
        }
        let c = canon(sub, std::mem::take(v), &Label::Sub(path, &sub.name), limits)?;
        *v = match c {
            Value::Null => {
                dropped = true;
                continue;
            }
            Value::Array(_) => c,
            single if sub.multi_valued => Value::Array(vec![single]),
            single => single,
        };
        if *key != sub.name || last.is_some_and(|l| l > i) {
            rebuild = true;
        }
        last = Some(i);
    }
    if dropped {
        obj.retain(|_, v| !v.is_null());
    }
    if obj.is_empty() {
        return Ok(Value::Null);
    }
    if rebuild {
        obj = ordered_complex(attr, obj);
    }
    Ok(Value::Object(obj))
}

/// Puts a complex value's sub-attributes in schema order under their canonical names.
fn ordered_complex(attr: &Attribute, mut obj: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(obj.len());
    for s in &attr.sub_attributes {
        let v = match obj.remove(&s.name) {
            Some(v) => Some(v),
            None => obj
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&s.name))
                .cloned()
                .and_then(|k| obj.remove(&k)),
        };
        if let Some(v) = v {
            out.insert(s.name.clone(), v);
        }
    }
    out
}

fn check_len(s: &str, path: &Label<'_>, limits: &Limits) -> Result<(), Error> {
    if s.len() > limits.max_value_bytes {
        return Err(Error::InvalidValue(format!(
            "attribute '{path}' is {} bytes long; the limit is {} bytes",
            s.len(),
            limits.max_value_bytes
        )));
    }
    Ok(())
}

/// An RFC 3339 date-time; a value without an offset (allowed by xsd:dateTime, RFC 7643
/// §2.3.5) is read as UTC.
fn parse_date_time(s: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| time::OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339).ok())
}

/// Standard base64 (RFC 4648 §4, as RFC 7643 §2.3.6 asks), padding optional.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn twice(path: &dyn fmt::Display, first: &str, second: &str) -> Error {
    Error::InvalidSyntax(format!(
        "attribute '{path}' appears twice (as '{first}' and '{second}'); attribute names are case-insensitive"
    ))
}

fn is_absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A value for an error message, cut short so a huge value does not flood the response.
fn shown(v: &Value) -> String {
    const MAX: usize = 60;
    let s = v.to_string();
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::urn;

    const CERT: &str = "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMxEzARBgNVBAgMCkNhbGlmb3JuaWExFDASBgNVBAoMC2V4YW1wbGUuY29tMRQwEgYDVQQDDAtleGFtcGxlLmNvbTAeFw0xMTEwMjIwNjI0MzFaFw0xMjEwMDQwNjI0MzFaMH8xCzAJBgNVBAYTAlVTMRMwEQYDVQQIDApDYWxpZm9ybmlhMRQwEgYDVQQKDAtleGFtcGxlLmNvbTEhMB8GA1UEAwwYTXMuIEJhcmJhcmEgSiBKZW5zZW4gSUlJMSIwIAYJKoZIhvcNAQkBFhNiamVuc2VuQGV4YW1wbGUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA7Kr+Dcds/JQ5GwejJFcBIP682X3xpjis56AK02bc1FLgzdLI8auoR+cC9/Vrh5t66HkQIOdA4unHh0AaZ4xL5PhVbXIPMB5vAPKpzz5iPSi8xO8SL7I7SDhcBVJhqVqr3HgllEG6UClDdHO7nkLuwXq8HcISKkbT5WFTVfFZzidPl8HZ7DhXkZIRtJwBweq4bvm3hM1Os7UQH05ZS6cVDgweKNwdLLrT51ikSQG3DYrl+ft781UQRIqxgwqCfXEuDiinPh0kkvIi5jivVu1Z9QiwlYEdRbLJ4zJQBmDrSGTMYn4lRc2HgHO4DqB/bnMVorHB0CC6AV1QoFK4GPe1LwIDAQABo3sweTAJBgNVHRMEAjAAMCwGCWCGSAGG+EIBDQQfFh1PcGVuU1NMIEdlbmVyYXRlZCBDZXJ0aWZpY2F0ZTAdBgNVHQ4EFgQU8pD0U0vsZIsaA16lL8En8bx0F/gwHwYDVR0jBBgwFoAUdGeKitcaF7gnzsNwDx708kqaVt0wDQYJKoZIhvcNAQEFBQADgYEAA81SsFnOdYJtNg5Tcq+/ByEDrBgnusx0jloUhByPMEVkoMZ3J7j1ZgI8rAbOkNngX8+pKfTiDz1RC4+dx8oU6Za+4NJXUjlL5CvV6BEYb1+QAEJwitTVvxB/A67g42/vzgAtoRUeDov1+GFiBZ+GNF/cAYKcMtGcrs2i97ZkJMo=";

    const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";

    /// A custom extension exercising the types and characteristics the RFC schemas lack.
    fn acme_registry(required: bool) -> Registry {
        let mut reg = Registry::rfc7643();
        let schema = json!({
            "id": ACME,
            "name": "AcmeUser",
            "attributes": [
                {"name": "badge", "type": "integer"},
                {"name": "weight", "type": "decimal"},
                {"name": "hired", "type": "dateTime"},
                {"name": "clearance", "type": "string", "mutability": "immutable", "caseExact": true},
                {"name": "token", "type": "string", "mutability": "readOnly"},
                {"name": "secret", "type": "binary", "mutability": "writeOnly", "returned": "never"},
                {"name": "tags", "type": "string", "multiValued": true},
                {"name": "site", "type": "complex", "subAttributes": [
                    {"name": "code", "type": "string", "required": true},
                    {"name": "badgeId", "type": "string", "mutability": "immutable"}
                ]},
                {"name": "level", "type": "integer", "required": true}
            ]
        });
        reg.load_extension(&schema.to_string(), "User", required)
            .unwrap();
        reg
    }

    fn rt<'r>(reg: &'r Registry, name: &str) -> &'r ResourceType {
        reg.resource_type(name).unwrap()
    }

    fn create(reg: &Registry, rt_name: &str, input: Value) -> Result<Value, Error> {
        validate(reg, rt(reg, rt_name), &input, Mode::Create)
    }

    fn replace(
        reg: &Registry,
        rt_name: &str,
        existing: &Value,
        input: Value,
    ) -> Result<Value, Error> {
        validate(reg, rt(reg, rt_name), &input, Mode::Replace { existing })
    }

    fn user(input: Value) -> Result<Value, Error> {
        create(&Registry::rfc7643(), "User", input)
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    fn full_user() -> Value {
        json!({
            "schemas": [urn::USER],
            "id": "2819c223-7f76-453a-919d-413861904646",
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
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "photos": [
                {"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"},
                {"value": "https://photos.example.com/profilephoto/72930000000Ccne/T", "type": "thumbnail"}
            ],
            "userType": "Employee",
            "title": "Tour Guide",
            "preferredLanguage": "en-US",
            "locale": "en-US",
            "timezone": "America/Los_Angeles",
            "active": true,
            "password": "t1meMa$heen",
            "groups": [
                {
                    "value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                    "$ref": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
                    "display": "Tour Guides"
                },
                {
                    "value": "fc348aa8-3835-40eb-a20b-c726e15c55b5",
                    "$ref": "https://example.com/v2/Groups/fc348aa8-3835-40eb-a20b-c726e15c55b5",
                    "display": "Employees"
                }
            ],
            "x509Certificates": [{"value": CERT}],
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"a330bc54f0671c9\"",
                "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
            }
        })
    }

    fn without(mut v: Value, drop: &[&str]) -> Value {
        let obj = v.as_object_mut().unwrap();
        for k in drop {
            obj.remove(*k);
        }
        v
    }

    #[test]
    fn rfc7643_8_1_minimal_user() {
        let out = user(json!({
            "schemas": [urn::USER],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "userName": "Bjensen",
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff590\"",
                "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
            }
        }))
        .unwrap();
        assert_eq!(out, json!({"schemas": [urn::USER], "userName": "Bjensen"}));
    }

    #[test]
    fn rfc7643_8_2_full_user() {
        let out = user(full_user()).unwrap();
        // id, meta (readOnly) and groups (readOnly) are the server's; all else is kept as sent.
        assert_eq!(out, without(full_user(), &["id", "meta", "groups"]));
        assert_eq!(
            keys(&out),
            [
                "schemas",
                "externalId",
                "userName",
                "name",
                "displayName",
                "nickName",
                "profileUrl",
                "title",
                "userType",
                "preferredLanguage",
                "locale",
                "timezone",
                "active",
                "password",
                "emails",
                "phoneNumbers",
                "ims",
                "photos",
                "addresses",
                "x509Certificates",
            ]
        );
        // Sub-attributes come out in schema order, whatever order they were sent in.
        assert_eq!(
            keys(&out["addresses"][0]),
            [
                "formatted",
                "streetAddress",
                "locality",
                "region",
                "postalCode",
                "country",
                "type",
                "primary"
            ]
        );
    }

    #[test]
    fn rfc7643_8_3_enterprise_user() {
        let mut input = full_user();
        input["schemas"] = json!([urn::USER, urn::ENTERPRISE_USER]);
        input[urn::ENTERPRISE_USER] = json!({
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {
                "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "$ref": "https://example.com/v2/Users/26118915-6090-4610-87e4-49d8ca9f808d",
                "displayName": "John Smith"
            }
        });
        let out = user(input.clone()).unwrap();
        let mut expected = without(input, &["id", "meta", "groups"]);
        // manager.displayName is readOnly: the server fills it in.
        expected[urn::ENTERPRISE_USER]["manager"]
            .as_object_mut()
            .unwrap()
            .remove("displayName");
        assert_eq!(out, expected);
        assert_eq!(keys(&out).last(), Some(&urn::ENTERPRISE_USER));
    }

    #[test]
    fn rfc7643_8_4_group() {
        let reg = Registry::rfc7643();
        let out = create(
            &reg,
            "Group",
            json!({
                "schemas": [urn::GROUP],
                "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                "displayName": "Tour Guides",
                "members": [
                    {
                        "value": "2819c223-7f76-453a-919d-413861904646",
                        "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                        "display": "Babs Jensen"
                    },
                    {
                        "value": "902c246b-6245-4190-8e05-00816be7344a",
                        "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a",
                        "display": "Mandy Pepperidge"
                    }
                ],
                "meta": {
                    "resourceType": "Group",
                    "created": "2010-01-23T04:56:22Z",
                    "lastModified": "2011-05-13T04:42:34Z",
                    "version": "W/\"3694e05e9dff592\"",
                    "location": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"
                }
            }),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [urn::GROUP],
                "displayName": "Tour Guides",
                "members": [
                    {
                        "value": "2819c223-7f76-453a-919d-413861904646",
                        "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
                    },
                    {
                        "value": "902c246b-6245-4190-8e05-00816be7344a",
                        "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a"
                    }
                ]
            })
        );
    }

    #[test]
    fn entra_user_create() {
        let out = user(json!({
            "schemas": [urn::USER, urn::ENTERPRISE_USER],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "active": "True",
            "emails": [{"primary": "true", "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "1234",
                "department": "Sales",
                "manager": "b8dcd8a6-6b2b-4d0f-93b0-2a2a5d7f4b7e"
            }
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "active": true,
                "emails": [{"value": "Test_User_fd0ea19b@testuser.com", "type": "work", "primary": true}],
                urn::ENTERPRISE_USER: {
                    "employeeNumber": "1234",
                    "department": "Sales",
                    "manager": {"value": "b8dcd8a6-6b2b-4d0f-93b0-2a2a5d7f4b7e"}
                }
            })
        );
    }

    #[test]
    fn entra_group_create_with_the_adscim_schema() {
        let reg = Registry::rfc7643();
        let out = create(
            &reg,
            "Group",
            json!({
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName",
                "meta": {"resourceType": "Group"},
                "schemas": [
                    urn::GROUP,
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
                ]
            }),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [urn::GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName"
            })
        );
    }

    #[test]
    fn string_booleans_in_any_case() {
        for (sent, stored) in [
            ("True", true),
            ("FALSE", false),
            ("true", true),
            ("fAlSe", false),
        ] {
            let out = user(json!({"userName": "a", "active": sent})).unwrap();
            assert_eq!(out["active"], json!(stored), "{sent}");
        }
        assert_eq!(
            user(json!({"userName": "a", "active": "yes"})).unwrap_err(),
            Error::InvalidValue(
                "attribute 'active' must be a boolean (true or false), got \"yes\"".into()
            )
        );
    }

    #[test]
    fn names_and_urns_are_case_insensitive() {
        let out = user(json!({
            "SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],
            "USERNAME": "a",
            "Name": {"GIVENNAME": "Ann"},
            "EMAILS": [{"Value": "a@x", "TYPE": "work"}],
            "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user": {"EmployeeNumber": "7"}
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER],
                "userName": "a",
                "name": {"givenName": "Ann"},
                "emails": [{"value": "a@x", "type": "work"}],
                urn::ENTERPRISE_USER: {"employeeNumber": "7"}
            })
        );
        assert_eq!(keys(&out)[3], "emails");
    }

    #[test]
    fn lenient_shapes_are_canonicalized() {
        let out = user(json!({
            "userName": ["a"],
            "emails": {"value": "a@x"},
            "phoneNumbers": "555",
            "nickName": null,
            "ims": [],
            "unknownButNull": null,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
            "costCenter": "4130"
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER],
                "userName": "a",
                "emails": [{"value": "a@x"}],
                "phoneNumbers": [{"value": "555"}],
                urn::ENTERPRISE_USER: {"costCenter": "4130", "department": "Sales"}
            })
        );
    }

    #[test]
    fn unknown_attributes_are_rejected() {
        assert_eq!(
            user(json!({"userName": "a", "favouriteColour": "blue"})).unwrap_err(),
            Error::InvalidSyntax(format!(
                "attribute 'favouriteColour' is not defined by any schema of resource type User ({}, {})",
                urn::USER,
                urn::ENTERPRISE_USER
            ))
        );
        assert_eq!(
            user(json!({"userName": "a", "urn:example:unknown:1.0:User": {"x": 1}})).unwrap_err(),
            Error::InvalidSyntax(format!(
                "attribute 'urn:example:unknown:1.0:User' is not defined by any schema of resource type User ({}, {})",
                urn::USER,
                urn::ENTERPRISE_USER
            ))
        );
        assert_eq!(
            user(json!({"userName": "a", urn::ENTERPRISE_USER: {"shoeSize": 9}})).unwrap_err(),
            Error::InvalidSyntax(format!(
                "attribute '{}:shoeSize' is not defined by any schema of resource type User ({}, {})",
                urn::ENTERPRISE_USER,
                urn::USER,
                urn::ENTERPRISE_USER
            ))
        );
        assert_eq!(
            user(json!({"userName": "a", "name": {"nick": "x"}})).unwrap_err(),
            Error::InvalidSyntax(
                "attribute 'name' has no sub-attribute 'nick' (it has formatted, familyName, givenName, middleName, honorificPrefix, honorificSuffix)".into()
            )
        );
        let reg = Registry::rfc7643();
        assert_eq!(
            create(&reg, "Group", json!({"displayName": "g", "userName": "x"})).unwrap_err(),
            Error::InvalidSyntax(format!(
                "attribute 'userName' is not defined by any schema of resource type Group ({})",
                urn::GROUP
            ))
        );
    }

    #[test]
    fn required_attributes() {
        assert_eq!(
            user(json!({"displayName": "a"})).unwrap_err(),
            Error::InvalidValue("attribute 'userName' is required for resource type User".into())
        );
        assert_eq!(
            user(json!({"userName": null})).unwrap_err(),
            Error::InvalidValue("attribute 'userName' is required for resource type User".into())
        );
        let reg = Registry::rfc7643();
        assert_eq!(
            create(&reg, "Group", json!({"members": []})).unwrap_err(),
            Error::InvalidValue(
                "attribute 'displayName' is required for resource type Group".into()
            )
        );
        // An optional extension's required attributes apply once it is present.
        let reg = acme_registry(false);
        assert!(create(&reg, "User", json!({"userName": "a"})).is_ok());
        assert_eq!(
            create(&reg, "User", json!({"userName": "a", ACME: {"badge": 1}})).unwrap_err(),
            Error::InvalidValue(format!(
                "attribute '{ACME}:level' is required for resource type User"
            ))
        );
        assert_eq!(
            create(
                &reg,
                "User",
                json!({"userName": "a", ACME: {"level": 1, "site": {"badgeId": "b"}}})
            )
            .unwrap_err(),
            Error::InvalidValue(format!(
                "sub-attribute '{ACME}:site.code' is required in every '{ACME}:site' value"
            ))
        );
        let reg = acme_registry(true);
        assert_eq!(
            create(&reg, "User", json!({"userName": "a"})).unwrap_err(),
            Error::InvalidValue(format!(
                "resource type User requires the extension {ACME}: send its attributes under the key \"{ACME}\""
            ))
        );
    }

    #[test]
    fn every_type_is_checked() {
        let reg = acme_registry(false);
        let acme = |attrs: Value| {
            let mut ext = json!({"level": 1});
            ext.as_object_mut()
                .unwrap()
                .extend(attrs.as_object().unwrap().clone());
            create(&reg, "User", json!({"userName": "a", ACME: ext}))
        };
        let err = |msg: &str| Error::InvalidValue(format!("attribute '{ACME}:{msg}"));
        let ok = acme(json!({
            "badge": 5.0, "weight": 72.5, "hired": "2024-01-31T09:30:00+01:00",
            "secret": "aGVsbG8", "tags": "one", "site": {"code": "X"}
        }))
        .unwrap();
        assert_eq!(
            ok[ACME],
            json!({
                "badge": 5, "weight": 72.5, "hired": "2024-01-31T09:30:00+01:00",
                "secret": "aGVsbG8", "tags": ["one"], "site": {"code": "X"}, "level": 1
            })
        );
        assert!(
            acme(json!({"hired": "2024-01-31T09:30:00"})).is_ok(),
            "xsd:dateTime without offset"
        );
        assert_eq!(
            acme(json!({"badge": 1.5})).unwrap_err(),
            err("badge' must be an integer (no fractional part), got 1.5")
        );
        assert_eq!(
            acme(json!({"badge": 1e30})).unwrap_err(),
            err(
                "badge' must be an integer between -9223372036854775808 and 9223372036854775807, got 1e+30"
            )
        );
        assert_eq!(
            acme(json!({"badge": u64::MAX})).unwrap_err(),
            err(
                "badge' must be an integer between -9223372036854775808 and 9223372036854775807, got 18446744073709551615"
            )
        );
        assert_eq!(
            acme(json!({"badge": "3"})).unwrap_err(),
            err("badge' must be an integer, got \"3\"")
        );
        assert_eq!(
            acme(json!({"weight": "72"})).unwrap_err(),
            err("weight' must be a decimal number, got \"72\"")
        );
        assert_eq!(
            acme(json!({"hired": "yesterday"})).unwrap_err(),
            err(
                "hired' must be a dateTime such as \"2024-01-31T09:30:00Z\" (RFC 3339), got \"yesterday\""
            )
        );
        assert_eq!(
            acme(json!({"secret": "***"})).unwrap_err(),
            err(
                "secret' must be base64-encoded binary data (RFC 4648 standard alphabet), got \"***\""
            )
        );
        assert_eq!(
            acme(json!({"tags": [1]})).unwrap_err(),
            err("tags[0]' must be a string, got 1")
        );
        assert_eq!(
            acme(json!({"site": 7})).unwrap_err(),
            err("site' must be a complex value (a JSON object), got 7")
        );
        assert_eq!(
            user(json!({"userName": 42})).unwrap_err(),
            Error::InvalidValue("attribute 'userName' must be a string, got 42".into())
        );
        assert_eq!(
            user(json!({"userName": "a", "profileUrl": true})).unwrap_err(),
            Error::InvalidValue(
                "attribute 'profileUrl' must be a reference (a URI string), got true".into()
            )
        );
        assert_eq!(
            user(json!({"userName": "a", "name": "Ann"})).unwrap_err(),
            Error::InvalidValue(
                "attribute 'name' must be a complex value (a JSON object), got \"Ann\"".into()
            )
        );
        assert_eq!(
            user(json!({"userName": "a", "x509Certificates": [{"value": "not base64!"}]})).unwrap_err(),
            Error::InvalidValue(
                "attribute 'x509Certificates[0].value' must be base64-encoded binary data (RFC 4648 standard alphabet), got \"not base64!\"".into()
            )
        );
        assert_eq!(
            user(json!({"userName": ["a", "b"]})).unwrap_err(),
            Error::InvalidValue(
                "attribute 'userName' is single-valued, got an array of 2 values".into()
            )
        );
        assert_eq!(
            user(json!({"userName": "a", "emails": [[{"value": "x"}]]})).unwrap_err(),
            Error::InvalidValue("attribute 'emails[0]' must be one value, got an array".into())
        );
    }

    #[test]
    fn at_most_one_primary() {
        assert_eq!(
            user(json!({"userName": "a", "emails": [
                {"value": "a@x", "primary": true},
                {"value": "b@x", "primary": "True"}
            ]}))
            .unwrap_err(),
            Error::InvalidValue(
                "attribute 'emails' has 2 values with \"primary\": true; at most one may be primary".into()
            )
        );
        assert!(
            user(json!({"userName": "a", "emails": [
                {"value": "a@x", "primary": true},
                {"value": "b@x", "primary": false}
            ]}))
            .is_ok()
        );
    }

    #[test]
    fn duplicate_keys_differing_in_case() {
        assert_eq!(
            user(json!({"userName": "a", "USERNAME": "b"})).unwrap_err(),
            Error::InvalidSyntax(
                "attribute 'USERNAME' appears twice (as 'userName' and 'USERNAME'); attribute names are case-insensitive".into()
            )
        );
        assert_eq!(
            user(json!({"userName": "a", "name": {"givenName": "a", "GivenName": "b"}})).unwrap_err(),
            Error::InvalidSyntax(
                "attribute 'name.givenName' appears twice (as 'givenName' and 'GivenName'); attribute names are case-insensitive".into()
            )
        );
    }

    #[test]
    fn schemas_handling() {
        assert_eq!(
            user(json!({"schemas": [urn::GROUP], "userName": "a"})).unwrap_err(),
            Error::InvalidSyntax(format!(
                "'schemas' lists {}, the core schema of Group, but this endpoint (/Users) serves User",
                urn::GROUP
            ))
        );
        assert_eq!(
            user(json!({"schemas": 7, "userName": "a"})).unwrap_err(),
            Error::InvalidSyntax("'schemas' must be an array of schema URNs, got 7".into())
        );
        // Missing, a lone string, or a listed extension without data: all fine.
        for schemas in [
            json!(null),
            json!(urn::USER),
            json!([urn::USER, urn::ENTERPRISE_USER]),
        ] {
            let out = user(json!({"schemas": schemas, "userName": "a"})).unwrap();
            assert_eq!(out["schemas"], json!([urn::USER]));
        }
        let out = user(json!({"userName": "a"})).unwrap();
        assert_eq!(out["schemas"], json!([urn::USER]));
        assert_eq!(
            user(json!([1])).unwrap_err(),
            Error::InvalidSyntax("a User resource must be a JSON object, got [1]".into())
        );
        assert_eq!(
            user(json!({"userName": "a", urn::ENTERPRISE_USER: "7"})).unwrap_err(),
            Error::InvalidSyntax(format!(
                "'{}' must be an object holding that schema's attributes, got \"7\"",
                urn::ENTERPRISE_USER
            ))
        );
    }

    #[test]
    fn limits_are_enforced() {
        let reg = Registry::rfc7643();
        let limits = Limits {
            max_value_bytes: 8,
            max_multi_values: 2,
        };
        let run = |v: Value| validate_with(&reg, rt(&reg, "User"), &v, Mode::Create, &limits);
        assert!(run(json!({"userName": "12345678"})).is_ok());
        assert_eq!(
            run(json!({"userName": "123456789"})).unwrap_err(),
            Error::InvalidValue(
                "attribute 'userName' is 9 bytes long; the limit is 8 bytes".into()
            )
        );
        assert_eq!(
            run(
                json!({"userName": "a", "emails": [{"value": "a"}, {"value": "b"}, {"value": "c"}]})
            )
            .unwrap_err(),
            Error::InvalidValue("attribute 'emails' has 3 values; the limit is 2".into())
        );
        assert_eq!(Limits::default().max_value_bytes, 65536);
        assert_eq!(Limits::default().max_multi_values, 10_000);
    }

    #[test]
    fn replace_keeps_server_values_and_guards_immutables() {
        let reg = acme_registry(false);
        let mut existing = create(
            &reg,
            "User",
            json!({"userName": "a", "password": "p", ACME: {"level": 1, "clearance": "Secret", "site": {"code": "X", "badgeId": "B1"}}}),
        )
        .unwrap();
        existing["id"] = json!("u1");
        existing["meta"] = json!({"resourceType": "User", "version": "W/\"1\""});
        existing[ACME]["token"] = json!("server-made");

        // Omitted immutable values are kept, readOnly values are the server's, id/meta survive,
        // the omitted writeOnly password is cleared like any readWrite attribute.
        let out = replace(
            &reg,
            "User",
            &existing,
            json!({"id": "other", "userName": "b", "meta": {}, ACME: {"level": 2, "token": "forged", "site": {"code": "Y"}}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": [urn::USER, ACME],
                "id": "u1",
                "meta": {"resourceType": "User", "version": "W/\"1\""},
                "userName": "b",
                ACME: {"clearance": "Secret", "token": "server-made", "site": {"code": "Y", "badgeId": "B1"}, "level": 2}
            })
        );
        assert_eq!(keys(&out)[..3], ["schemas", "id", "meta"]);

        // The same value (caseExact) is fine; a different one is a mutability error.
        let again = json!({"userName": "b", ACME: {"level": 2, "clearance": "Secret"}});
        replace(&reg, "User", &existing, again).unwrap();
        assert_eq!(
            replace(
                &reg,
                "User",
                &existing,
                json!({"userName": "b", ACME: {"level": 2, "clearance": "secret"}})
            )
            .unwrap_err(),
            Error::Mutability(format!(
                "attribute '{ACME}:clearance' is immutable: it is already \"Secret\" and cannot be changed to \"secret\""
            ))
        );
        assert_eq!(
            replace(
                &reg,
                "User",
                &existing,
                json!({"userName": "b", ACME: {"level": 2, "site": {"code": "X", "badgeId": "B2"}}})
            )
            .unwrap_err(),
            Error::Mutability(format!(
                "attribute '{ACME}:site.badgeId' is immutable: it is already \"B1\" and cannot be changed to \"B2\""
            ))
        );
        // Setting an immutable value that had none is allowed.
        let bare = create(&reg, "User", json!({"userName": "a", ACME: {"level": 1}})).unwrap();
        let out = replace(
            &reg,
            "User",
            &bare,
            json!({"userName": "a", ACME: {"level": 1, "clearance": "Top"}}),
        )
        .unwrap();
        assert_eq!(out[ACME]["clearance"], "Top");
    }

    #[test]
    fn replace_is_idempotent_on_the_canonical_form() {
        let reg = Registry::rfc7643();
        let mut created = create(&reg, "User", full_user()).unwrap();
        created["id"] = json!("u1");
        let stored = replace(&reg, "User", &created, created.clone()).unwrap();
        assert_eq!(stored, created);
        let again = replace(&reg, "User", &stored, stored.clone()).unwrap();
        assert_eq!(again, stored);
        assert_eq!(keys(&again), keys(&stored));
        assert_eq!(keys(&again)[..3], ["schemas", "id", "externalId"]);
    }

    #[test]
    fn canonicalize_value_for_patch() {
        let user = crate::schema::user_schema();
        let emails = user.attribute("emails").unwrap();
        assert_eq!(
            canonicalize_value(emails, &json!({"VALUE": "a@x", "primary": "TRUE"})).unwrap(),
            json!({"value": "a@x", "primary": true})
        );
        assert_eq!(
            canonicalize_value(emails, &json!([{"value": "a@x"}, null])).unwrap(),
            json!([{"value": "a@x"}])
        );
        assert_eq!(canonicalize_value(emails, &json!([])).unwrap(), Value::Null);
        let active = user.attribute("active").unwrap();
        assert_eq!(
            canonicalize_value(active, &json!("False")).unwrap(),
            json!(false)
        );
        let groups = user.attribute("groups").unwrap();
        assert_eq!(
            canonicalize_value(groups, &json!({"value": "g1"})).unwrap(),
            Value::Null,
            "readOnly sub-attributes are dropped"
        );
        let clearance = Attribute {
            mutability: Mutability::Immutable,
            ..user.attribute("userName").unwrap().clone()
        };
        assert!(check_immutable("x", &clearance, Some(&json!("A")), Some(&json!("a"))).is_ok());
        assert!(check_immutable("x", &clearance, None, Some(&json!("a"))).is_ok());
        assert!(check_immutable("x", &clearance, Some(&json!("A")), Some(&json!("b"))).is_err());
        assert!(values_equal(
            emails,
            &json!([{"value": "A@x"}, {"value": "b@x"}]),
            &json!([{"value": "b@x"}, {"value": "a@x"}])
        ));
    }
}
