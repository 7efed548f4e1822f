//! The in-memory filter evaluator, and the typed value comparison that sorting and PATCH share.
//!
//! Comparison follows the attribute's schema type rather than the JSON type: strings honour
//! `caseExact`, dateTimes compare as instants (`…:34Z` equals `…:34.000+00:00`), numbers compare
//! numerically. A value whose type does not fit the attribute compares as "unordered", which
//! makes every comparison with it fail instead of guessing.

use std::cmp::Ordering;

use serde_json::{Number, Value};
use time::OffsetDateTime;

use super::{CompValue, CompareOp, Filter};
use crate::error::Error;
use crate::path::{AttrPath, attribute_value, get_ci, resolve, visit_values};
use crate::schema::{AttrType, Attribute, Registry, Resolved, ResourceType};

impl Filter {
    /// Checks the filter against the schema before it is run, so that a mistyped attribute is a
    /// 400 `invalidFilter` rather than a silently empty result.
    ///
    /// Rejected: attributes the resource type does not define (in a value filter, names that
    /// are not sub-attributes of the attribute); `gt`/`ge`/`lt`/`le` on boolean and binary
    /// attributes (RFC 7644 §3.4.2.2 says they SHALL fail with `invalidFilter`); comparing a
    /// complex attribute that has no `value` sub-attribute as a whole (`name eq "x"`): RFC 7644
    /// lets `emails co "x"` stand for `emails.value co "x"`, and nothing else is meaningful.
    pub fn check(&self, registry: &Registry, rt: &ResourceType) -> Result<(), Error> {
        match self {
            Filter::Compare { path, op, .. } => {
                let target = resolve_checked(registry, rt, path)?.target();
                check_comparison(&path.to_string(), target, *op)
            }
            Filter::Present(path) => resolve_checked(registry, rt, path).map(|_| ()),
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.check(registry, rt)?;
                r.check(registry, rt)
            }
            Filter::Not(inner) => inner.check(registry, rt),
            Filter::ValuePath { attr, filter } => {
                if attr.sub.is_some() {
                    return Err(Error::InvalidFilter(format!(
                        "'{attr}' cannot take a value filter: name the attribute without a sub-attribute"
                    )));
                }
                let resolved = resolve_checked(registry, rt, attr)?;
                filter.check_element(resolved.attr, &attr.to_string(), rt)
            }
        }
    }

    fn check_element(&self, attr: &Attribute, label: &str, rt: &ResourceType) -> Result<(), Error> {
        let target = |path: &AttrPath| {
            element_attribute(attr, path).ok_or_else(|| unknown(&format!("{label}.{path}"), rt))
        };
        match self {
            Filter::Compare { path, op, .. } => {
                check_comparison(&format!("{label}.{path}"), target(path)?, *op)
            }
            Filter::Present(path) => target(path).map(|_| ()),
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.check_element(attr, label, rt)?;
                r.check_element(attr, label, rt)
            }
            Filter::Not(inner) => inner.check_element(attr, label, rt),
            Filter::ValuePath { attr: inner, .. } => Err(Error::InvalidFilter(format!(
                "value paths cannot be nested: '{inner}[...]' inside '{label}[...]'"
            ))),
        }
    }

    /// Whether `resource`, a resource of type `rt`, satisfies the filter.
    ///
    /// Semantics, where RFC 7644 §3.4.2.2 leaves room:
    /// * A multi-valued attribute matches when any of its values does.
    /// * `ne` is the negation of `eq`: it matches when no value equals the literal, including
    ///   when the attribute is absent (an unassigned attribute is not equal to "x"). This keeps
    ///   `a ne v` and `not (a eq v)` the same filter, as UnboundID's and most SDKs' evaluators do.
    /// * `null` means unassigned (RFC 7643 §2.5): `a eq null` matches exactly when `a pr` does
    ///   not, and `a ne null` when it does.
    /// * `pr` needs a value that is not null, not `""`, not `[]` and not an object without any
    ///   present member.
    /// * A literal of the wrong type for the attribute (`userName eq 5`, a text that is not a
    ///   dateTime against a dateTime) matches nothing.
    /// * Paths the registry does not resolve match nothing; [`Filter::check`] reports them.
    pub fn matches(&self, resource: &Value, registry: &Registry, rt: &ResourceType) -> bool {
        match self {
            Filter::Compare { path, op, value } => {
                let Some(resolved) = resolve(registry, rt, path) else {
                    return false;
                };
                let target = resolved.target();
                if target.kind != AttrType::Complex {
                    return compare(|f| visit_values(resource, &resolved, f), *op, value, target);
                }
                // `emails co "x"` compares each email's `value`.
                let Some(value_attr) = target.sub_attribute("value") else {
                    return false;
                };
                compare(
                    |f| {
                        visit_values(resource, &resolved, &mut |v| {
                            v.as_object()
                                .and_then(|o| get_ci(o, &value_attr.name))
                                .is_some_and(|v| !v.is_null() && f(v))
                        })
                    },
                    *op,
                    value,
                    value_attr,
                )
            }
            Filter::Present(path) => registry
                .resolve(rt, path)
                .is_some_and(|r| visit_values(resource, &r, &mut is_present)),
            Filter::And(l, r) => {
                l.matches(resource, registry, rt) && r.matches(resource, registry, rt)
            }
            Filter::Or(l, r) => {
                l.matches(resource, registry, rt) || r.matches(resource, registry, rt)
            }
            Filter::Not(inner) => !inner.matches(resource, registry, rt),
            Filter::ValuePath { attr, filter } => {
                let Some(resolved) = resolve(registry, rt, attr) else {
                    return false;
                };
                let whole = Resolved {
                    sub: None,
                    ..resolved
                };
                match attribute_value(resource, &whole) {
                    Some(Value::Array(items)) => items
                        .iter()
                        .any(|el| filter.matches_element(el, resolved.attr)),
                    Some(el) => filter.matches_element(el, resolved.attr),
                    None => false,
                }
            }
        }
    }

    /// Whether one element of the attribute `attr` satisfies the filter, whose paths name
    /// sub-attributes of `attr`: a value filter (`emails[type eq "work"]`) applied to one email,
    /// as PATCH does to pick its targets. For a multi-valued attribute of simple values (a list
    /// of strings), the name `value` stands for the element itself. Semantics as in
    /// [`Filter::matches`].
    pub fn matches_element(&self, element: &Value, attr: &Attribute) -> bool {
        match self {
            Filter::Compare { path, op, value } => {
                let Some(target) = element_attribute(attr, path) else {
                    return false;
                };
                let field = element_field(element, attr, target);
                compare(|f| visit_field(field, f), *op, value, target)
            }
            Filter::Present(path) => element_attribute(attr, path).is_some_and(|target| {
                visit_field(element_field(element, attr, target), &mut is_present)
            }),
            Filter::And(l, r) => {
                l.matches_element(element, attr) && r.matches_element(element, attr)
            }
            Filter::Or(l, r) => {
                l.matches_element(element, attr) || r.matches_element(element, attr)
            }
            Filter::Not(inner) => !inner.matches_element(element, attr),
            Filter::ValuePath { .. } => false,
        }
    }
}

fn unknown(path: &str, rt: &ResourceType) -> Error {
    Error::InvalidFilter(format!(
        "unknown attribute '{path}' in filter for resource type {}",
        rt.name
    ))
}

fn resolve_checked<'a>(
    registry: &'a Registry,
    rt: &'a ResourceType,
    path: &AttrPath,
) -> Result<Resolved<'a>, Error> {
    resolve(registry, rt, path).ok_or_else(|| unknown(&path.to_string(), rt))
}

fn check_comparison(label: &str, target: &Attribute, op: CompareOp) -> Result<(), Error> {
    let target = if target.kind == AttrType::Complex {
        match target.sub_attribute("value") {
            Some(value) => value,
            None => {
                let example = target
                    .sub_attributes
                    .first()
                    .map(|s| format!(", such as '{label}.{}'", s.name))
                    .unwrap_or_default();
                return Err(Error::InvalidFilter(format!(
                    "'{label}' is a complex attribute: compare one of its sub-attributes{example}"
                )));
            }
        }
    } else {
        target
    };
    if op.is_ordering() && matches!(target.kind, AttrType::Boolean | AttrType::Binary) {
        let kind = if target.kind == AttrType::Boolean {
            "boolean"
        } else {
            "binary"
        };
        return Err(Error::InvalidFilter(format!(
            "operator '{op}' cannot be used on the {kind} attribute '{label}'"
        )));
    }
    Ok(())
}

/// The definition a path inside a value filter names: a sub-attribute of `attr`, or `attr`
/// itself under the name `value` when its values are simple.
fn element_attribute<'a>(attr: &'a Attribute, path: &AttrPath) -> Option<&'a Attribute> {
    if path.urn.is_some() || path.sub.is_some() {
        return None;
    }
    if attr.kind == AttrType::Complex {
        attr.sub_attribute(&path.name)
    } else if path.name.eq_ignore_ascii_case("value") {
        Some(attr)
    } else {
        None
    }
}

/// The value `target` has in one element of `attr`.
fn element_field<'v>(
    element: &'v Value,
    attr: &Attribute,
    target: &Attribute,
) -> Option<&'v Value> {
    if std::ptr::eq(attr, target) {
        Some(element)
    } else {
        element.as_object().and_then(|o| get_ci(o, &target.name))
    }
}

/// Calls `f` on the field's non-null value(s) until it returns true.
fn visit_field(field: Option<&Value>, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match field {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => items.iter().filter(|v| !v.is_null()).any(f),
        Some(v) => f(v),
    }
}

/// RFC 7644 `pr`: a non-empty value, or a complex value with a non-empty member.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(members) => members.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// Applies `op value` over the values `visit` produces (see [`Filter::matches`] for `ne` and
/// `null`).
fn compare(
    visit: impl FnOnce(&mut dyn FnMut(&Value) -> bool) -> bool,
    op: CompareOp,
    literal: &CompValue,
    attr: &Attribute,
) -> bool {
    match (op, literal) {
        (CompareOp::Eq, CompValue::Null) => !visit(&mut is_present),
        (CompareOp::Ne, CompValue::Null) => visit(&mut is_present),
        (CompareOp::Ne, _) => !visit(&mut |v| test(v, CompareOp::Eq, literal, attr)),
        _ => visit(&mut |v| test(v, op, literal, attr)),
    }
}

/// One stored value against the literal.
fn test(v: &Value, op: CompareOp, literal: &CompValue, attr: &Attribute) -> bool {
    let Some(stored) = Scalar::of(v) else {
        return false;
    };
    let lit = match literal {
        CompValue::Null => Scalar::Null,
        CompValue::Bool(b) => Scalar::Bool(*b),
        CompValue::Number(n) => Scalar::Number(n),
        CompValue::String(s) => Scalar::Str(s),
    };
    if op.is_ordering() && matches!(attr.kind, AttrType::Boolean | AttrType::Binary) {
        return false;
    }
    let ord = || compare_scalars(stored, lit, attr);
    match op {
        CompareOp::Eq | CompareOp::Ne => ord() == Some(Ordering::Equal),
        CompareOp::Gt => ord() == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ord(), Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Lt => ord() == Some(Ordering::Less),
        CompareOp::Le => matches!(ord(), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let (Scalar::Str(hay), Scalar::Str(needle)) = (stored, lit) else {
                return false;
            };
            let textual = matches!(
                attr.kind,
                AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime
            );
            let case_exact = attr.case_exact || attr.kind == AttrType::Binary;
            textual && text_match(hay, needle, op, case_exact)
        }
    }
}

/// `co`, `sw` or `ew` on text, folding case unless `case_exact`.
fn text_match(hay: &str, needle: &str, op: CompareOp, case_exact: bool) -> bool {
    if case_exact {
        return match op {
            CompareOp::Sw => hay.starts_with(needle),
            CompareOp::Ew => hay.ends_with(needle),
            _ => hay.contains(needle),
        };
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        if n.len() > h.len() {
            return false;
        }
        return match op {
            CompareOp::Sw => h[..n.len()].eq_ignore_ascii_case(n),
            CompareOp::Ew => h[h.len() - n.len()..].eq_ignore_ascii_case(n),
            _ => n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)),
        };
    }
    text_match(&hay.to_lowercase(), &needle.to_lowercase(), op, true)
}

/// A scalar seen through the schema: a stored JSON value or a filter literal.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(&'a Number),
    Str(&'a str),
}

impl<'a> Scalar<'a> {
    /// `None` for arrays and objects, which have no scalar reading.
    pub(crate) fn of(v: &'a Value) -> Option<Scalar<'a>> {
        Some(match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => Scalar::Number(n),
            Value::String(s) => Scalar::Str(s),
            Value::Array(_) | Value::Object(_) => return None,
        })
    }
}

/// Orders two stored values of `attr` by its type and `caseExact`.
///
/// Complex values are ordered by their `value` sub-attribute, the one RFC 7644 treats as the
/// attribute's own value when none is named (sorting by `emails` sorts by the email address).
/// `None` when either side does not fit the type (a string in an integer attribute, text that is
/// not a dateTime) or the type has no order of its own.
pub fn compare_values(a: &Value, b: &Value, attr: &Attribute) -> Option<Ordering> {
    if attr.kind == AttrType::Complex {
        let value_attr = attr.sub_attribute("value")?;
        fn pick(v: &Value) -> Option<&Value> {
            v.as_object().and_then(|o| crate::path::get_ci(o, "value"))
        }
        return compare_values(pick(a)?, pick(b)?, value_attr);
    }
    compare_scalars(Scalar::of(a)?, Scalar::of(b)?, attr)
}

/// Orders `a` against `b` as values of `attr` (see [`compare_values`]).
pub(crate) fn compare_scalars(a: Scalar<'_>, b: Scalar<'_>, attr: &Attribute) -> Option<Ordering> {
    match attr.kind {
        AttrType::String | AttrType::Reference => match (a, b) {
            (Scalar::Str(a), Scalar::Str(b)) => Some(compare_text(a, b, attr.case_exact)),
            _ => None,
        },
        // Base64 text is case-sensitive whatever the schema says.
        AttrType::Binary => match (a, b) {
            (Scalar::Str(a), Scalar::Str(b)) => Some(a.cmp(b)),
            _ => None,
        },
        AttrType::Boolean => Some(as_bool(a)?.cmp(&as_bool(b)?)),
        AttrType::Integer | AttrType::Decimal => match (a, b) {
            (Scalar::Number(a), Scalar::Number(b)) => compare_numbers(a, b),
            _ => None,
        },
        AttrType::DateTime => match (a, b) {
            (Scalar::Str(a), Scalar::Str(b)) => Some(parse_datetime(a)?.cmp(&parse_datetime(b)?)),
            _ => None,
        },
        AttrType::Complex => None,
    }
}

/// Booleans, and leniently the strings "true"/"false" in any case: some clients quote boolean
/// literals (`active eq "True"`), and the meaning is unambiguous.
fn as_bool(s: Scalar<'_>) -> Option<bool> {
    match s {
        Scalar::Bool(b) => Some(b),
        Scalar::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Scalar::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Exact integer comparison when both fit the same integer type, f64 otherwise (decimals, or a
/// negative against a huge unsigned, where f64 orders correctly).
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return Some(a.cmp(&b));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Lexicographic order by code point, folding case unless `case_exact`.
pub(crate) fn compare_text(a: &str, b: &str, case_exact: bool) -> Ordering {
    if case_exact {
        a.cmp(b)
    } else if a.is_ascii() && b.is_ascii() {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

/// An RFC 3339 instant. A value without an offset (xsd:dateTime allows it, some clients send
/// it) is taken as UTC rather than rejected.
pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let local = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(s, &local)
        .ok()
        .map(|t| t.assume_utc())
}
