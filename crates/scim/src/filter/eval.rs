//! The in-memory filter evaluator, and the typed value comparison that sorting and PATCH share.
//!
//! Comparison follows the attribute's schema type rather than the JSON type: strings honour
//! `caseExact`, dateTimes compare as instants (`…:34Z` equals `…:34.000+00:00`), numbers compare
//! numerically. A value whose type does not fit the attribute compares as "unordered", which
//! makes every comparison with it fail instead of guessing.

use std::cmp::Ordering;

use serde_json::{Number, Value};
use time::OffsetDateTime;

use crate::schema::{AttrType, Attribute};

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
