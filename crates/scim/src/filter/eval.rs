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
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::{Schema, SchemaExtension};
    use crate::urn;

    /// RFC 7643 §8.3: the §8.2 full User with the Enterprise User extension.
    fn bjensen() -> Value {
        json!({
          "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
          ],
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
              "streetAddress": "100 Universal City Plaza",
              "locality": "Hollywood",
              "region": "CA",
              "postalCode": "91608",
              "country": "USA",
              "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
              "type": "work",
              "primary": true
            },
            {
              "streetAddress": "456 Hollywood Blvd",
              "locality": "Hollywood",
              "region": "CA",
              "postalCode": "91608",
              "country": "USA",
              "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA",
              "type": "home"
            }
          ],
          "phoneNumbers": [
            {"value": "555-555-5555", "type": "work"},
            {"value": "555-555-4444", "type": "mobile"}
          ],
          "ims": [{"value": "someaimhandle", "type": "aim"}],
          "photos": [
            {
              "value": "https://photos.example.com/profilephoto/72930000000Ccne/F",
              "type": "photo"
            },
            {
              "value": "https://photos.example.com/profilephoto/72930000000Ccne/T",
              "type": "thumbnail"
            }
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
          "x509Certificates": [
            {"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}
          ],
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {
              "value": "26118915-6090-4610-87e4-49d8ca9f808d",
              "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
              "displayName": "John Smith"
            }
          },
          "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
          }
        })
    }

    const CUSTOM: &str = "urn:example:scim:schemas:2.0:Custom";

    /// RFC 7643 plus a custom User extension with number and simple multi-valued attributes.
    fn registry() -> Registry {
        let mut reg = Registry::rfc7643();
        let custom: Schema = serde_json::from_value(json!({
            "id": CUSTOM,
            "attributes": [
                {"name": "age", "type": "integer"},
                {"name": "score", "type": "decimal"},
                {"name": "tags", "type": "string", "multiValued": true},
                {"name": "badge", "type": "binary"},
                {"name": "born", "type": "dateTime"}
            ]
        }))
        .unwrap();
        reg.insert_schema(custom);
        let mut rt = reg.resource_type("User").unwrap().clone();
        rt.schema_extensions.push(SchemaExtension {
            schema: CUSTOM.to_owned(),
            required: false,
        });
        reg.insert_resource_type(rt);
        reg
    }

    fn user_rt(reg: &Registry) -> ResourceType {
        reg.resource_type("User").unwrap().clone()
    }

    fn eval(filter: &str, resource: &Value) -> bool {
        let reg = registry();
        let rt = user_rt(&reg);
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        if let Err(e) = f.check(&reg, &rt) {
            panic!("{filter}: {e}");
        }
        f.matches(resource, &reg, &rt)
    }

    fn check_err(filter: &str) -> String {
        let reg = registry();
        let rt = user_rt(&reg);
        match Filter::parse(filter).unwrap().check(&reg, &rt) {
            Ok(()) => panic!("{filter} should be rejected"),
            Err(e) => {
                assert_eq!(e.scim_type(), Some(crate::ScimType::InvalidFilter));
                e.to_string()
            }
        }
    }

    #[test]
    fn rfc7644_example_filters_on_the_rfc7643_user() {
        let u = bjensen();
        for (filter, expected) in [
            (r#"userName Eq "john""#, false),
            (r#"Username eq "john""#, false),
            (r#"userName eq "bjensen""#, false),
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"name.familyName co "O'Malley""#, false),
            (r#"userName sw "J""#, false),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                false,
            ),
            ("title pr", true),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
            (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
            (r#"title pr and userType eq "Employee""#, true),
            (r#"title pr or userType eq "Intern""#, true),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                true,
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                true,
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                false,
            ),
            (
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                true,
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                true,
            ),
        ] {
            assert_eq!(eval(filter, &u), expected, "{filter}");
        }
    }

    #[test]
    fn rfc_examples_with_matching_values() {
        let u = bjensen();
        for filter in [
            r#"name.familyName co "ENS""#,
            r#"userName sw "BJ""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#,
            r#"userType ne "Intern" and not (emails co "example.net")"#,
            r#"emails[type eq "work" and value co "@example.com"] and not (ims[type eq "xmpp"])"#,
        ] {
            assert!(eval(filter, &u), "{filter}");
        }
    }

    #[test]
    fn case_exact_per_attribute() {
        let u = bjensen();
        assert!(eval(r#"userName eq "BJensen@Example.COM""#, &u));
        assert!(eval(r#"id eq "2819c223-7f76-453a-919d-413861904646""#, &u));
        assert!(!eval(r#"id eq "2819C223-7F76-453A-919D-413861904646""#, &u));
        assert!(!eval(r#"id sw "2819C""#, &u));
        assert!(eval(r#"emails.value ew "@EXAMPLE.com""#, &u));
        // photos.value is a caseExact reference.
        assert!(eval(r#"photos.value co "Ccne""#, &u));
        assert!(!eval(r#"photos.value co "ccne""#, &u));
        assert!(eval(
            r#"displayName eq "bäbs jensen""#,
            &json!({"displayName": "BÄBS Jensen"})
        ));
    }

    #[test]
    fn datetimes_compare_as_instants() {
        let u = bjensen();
        assert!(eval(
            r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#,
            &u
        ));
        assert!(eval(
            r#"meta.lastModified eq "2011-05-12T21:42:34-07:00""#,
            &u
        ));
        assert!(eval(
            r#"meta.lastModified gt "2011-05-13T05:42:34+02:00""#,
            &u
        ));
        assert!(eval(r#"meta.created lt "2011-01-01T00:00:00""#, &u));
        assert!(!eval(r#"meta.lastModified gt "yesterday""#, &u));
        assert!(!eval(r#"meta.lastModified eq "2011-05-13""#, &u));
        assert!(eval(r#"meta.lastModified ne "yesterday""#, &u));
        assert!(eval(r#"meta.lastModified sw "2011-05""#, &u));
    }

    #[test]
    fn extension_attributes() {
        let u = bjensen();
        let ent = urn::ENTERPRISE_USER;
        assert!(eval(&format!(r#"{ent}:employeeNumber eq "701984""#), &u));
        assert!(eval(r#"employeeNumber eq "701984""#, &u));
        assert!(eval(
            &format!(r#"{ent}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
            &u
        ));
        assert!(eval(
            &format!(r#"{ent}:manager.displayName eq "john smith""#),
            &u
        ));
        assert!(eval(&format!("{ent}:manager pr"), &u));
        assert!(!eval(&format!(r#"{ent}:costCenter eq "4131""#), &u));
        assert!(!eval(
            &format!("{ent}:employeeNumber pr"),
            &json!({"employeeNumber": "1"})
        ));
    }

    #[test]
    fn value_path_then_sub_attribute() {
        let u = bjensen();
        assert!(eval(
            r#"emails[type eq "work"].value eq "bjensen@example.com""#,
            &u
        ));
        assert!(!eval(
            r#"emails[type eq "work"].value eq "babs@jensen.org""#,
            &u
        ));
        assert!(eval(r#"emails[type eq "home"].value ew "JENSEN.org""#, &u));
        assert!(eval(
            r#"phoneNumbers[type eq "mobile"].value eq "555-555-4444""#,
            &u
        ));
        assert!(eval(r#"emails[primary eq true].type eq "work""#, &u));
        assert!(!eval(r#"emails[primary eq true].type eq "home""#, &u));
        assert!(eval(r#"addresses[type eq "work"].postalCode pr"#, &u));
        assert!(eval(r#"name[givenName eq "Barbara"]"#, &u));
    }

    #[test]
    fn absent_null_ne_and_pr() {
        let u = bjensen();
        assert!(!eval("entitlements pr", &u));
        assert!(eval(r#"entitlements.value ne "x""#, &u));
        assert!(eval("entitlements eq null", &u));
        assert!(!eval("entitlements ne null", &u));
        assert!(!eval("title eq null", &u));
        assert!(eval("title ne null", &u));
        assert!(!eval(r#"entitlements.value eq "x""#, &u));
        // `ne` on a multi-valued attribute: no value equal.
        assert!(!eval(r#"emails.type ne "work""#, &u));
        assert!(eval(r#"emails.type ne "other""#, &u));
        let empty =
            json!({"title": "", "emails": [], "name": {"givenName": null}, "nickName": null});
        for f in [
            "title pr",
            "emails pr",
            "name pr",
            "nickName pr",
            "name.givenName pr",
        ] {
            assert!(!eval(f, &empty), "{f}");
        }
        assert!(eval("title eq null and nickName eq null", &empty));
        assert!(eval("active pr", &json!({"active": false})));
    }

    #[test]
    fn booleans_and_numbers() {
        let u = bjensen();
        assert!(eval("active eq true", &u));
        assert!(eval("active eq TRUE", &u));
        assert!(eval(r#"active eq "True""#, &u));
        assert!(!eval("active eq false", &u));
        assert!(eval("active ne false", &u));
        assert!(!eval("active eq 1", &u));
        let r = json!({CUSTOM: {"age": 42, "score": 2.5, "tags": ["Blue", "green"]}});
        assert!(eval("age eq 42", &r));
        assert!(eval("age eq 42.0", &r));
        assert!(eval("age gt 41.5 and age lt 4.3e1", &r));
        assert!(eval("score ge 2.5 and score le 2.5", &r));
        assert!(eval("score gt -1", &r));
        assert!(!eval(r#"age eq "42""#, &r));
        assert!(!eval("age co 4", &r));
        assert!(eval(r#"tags eq "blue""#, &r));
        assert!(eval(r#"tags[value sw "GR"]"#, &r));
        assert!(!eval(r#"tags ne "GREEN""#, &r));
        assert!(eval(&format!("{CUSTOM}:age ge 42"), &r));
        assert!(eval(
            r#"born gt "1970-01-01T00:00:00Z""#,
            &json!({CUSTOM: {"born": "1999-12-31T23:59:59.5Z"}})
        ));
    }

    #[test]
    fn keys_in_any_case() {
        let r = json!({
            "USERNAME": "Alice",
            "Emails": [{"Value": "a@x.org", "TYPE": "work"}],
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"EMPLOYEENUMBER": "9"}
        });
        assert!(eval(r#"userName eq "alice""#, &r));
        assert!(eval(r#"emails[type eq "work"].value eq "a@x.org""#, &r));
        assert!(eval(r#"employeeNumber eq "9""#, &r));
    }

    #[test]
    fn precedence_decides_results() {
        // `a or b and c` is `a or (b and c)`: true for a user with a title and no nickName match.
        let u = bjensen();
        assert!(eval(
            r#"title pr or nickName eq "x" and userType eq "x""#,
            &u
        ));
        assert!(!eval(
            r#"(title pr or nickName eq "x") and userType eq "x""#,
            &u
        ));
        assert!(!eval(r#"not (title pr) and userType eq "Employee""#, &u));
        assert!(eval(
            r#"displayName eq "or" or displayName eq "Babs Jensen""#,
            &u
        ));
    }

    #[test]
    fn entra_lookups() {
        let u = bjensen();
        assert!(eval(r#"externalId eq "701984""#, &u));
        assert!(eval(
            r#"userName eq "bjensen@example.com" and externalId eq "701984""#,
            &u
        ));
        let reg = registry();
        let group_rt = reg.resource_type("Group").unwrap();
        let group = json!({"displayName": "Tour Guides", "members": [{"value": "2819c223"}]});
        let f = Filter::parse(r#"displayName eq "tour guides""#).unwrap();
        assert!(f.check(&reg, group_rt).is_ok());
        assert!(f.matches(&group, &reg, group_rt));
        let f = Filter::parse(r#"members[value eq "2819c223"]"#).unwrap();
        assert!(f.check(&reg, group_rt).is_ok());
        assert!(f.matches(&group, &reg, group_rt));
    }

    #[test]
    fn unknown_attributes_are_invalid_filters() {
        assert_eq!(
            check_err(r#"userNme eq "x""#),
            "invalid filter: unknown attribute 'userNme' in filter for resource type User"
        );
        assert_eq!(
            check_err(r#"emails[tpye eq "work"]"#),
            "invalid filter: unknown attribute 'emails.tpye' in filter for resource type User"
        );
        assert_eq!(
            check_err("name.givnName pr"),
            "invalid filter: unknown attribute 'name.givnName' in filter for resource type User"
        );
        assert_eq!(
            check_err(
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x""#
            ),
            "invalid filter: unknown attribute \
             'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName' in filter for \
             resource type User"
        );
        assert_eq!(
            check_err(r#"title pr and (userType eq "x" or nope pr)"#),
            "invalid filter: unknown attribute 'nope' in filter for resource type User"
        );
        // Unknown attributes simply do not match when nobody checked.
        let reg = registry();
        let rt = user_rt(&reg);
        let f = Filter::parse("nope pr").unwrap();
        assert!(!f.matches(&json!({"nope": 1}), &reg, &rt));
    }

    #[test]
    fn operators_the_type_forbids() {
        assert_eq!(
            check_err("active gt false"),
            "invalid filter: operator 'gt' cannot be used on the boolean attribute 'active'"
        );
        assert_eq!(
            check_err(r#"x509Certificates.value le "M""#),
            "invalid filter: operator 'le' cannot be used on the binary attribute \
             'x509Certificates.value'"
        );
        assert_eq!(
            check_err(r#"x509Certificates lt "M""#),
            "invalid filter: operator 'lt' cannot be used on the binary attribute \
             'x509Certificates'"
        );
        assert_eq!(
            check_err(r#"emails[primary ge true]"#),
            "invalid filter: operator 'ge' cannot be used on the boolean attribute \
             'emails.primary'"
        );
        assert_eq!(
            check_err(r#"name eq "Barbara""#),
            "invalid filter: 'name' is a complex attribute: compare one of its sub-attributes, \
             such as 'name.formatted'"
        );
        let reg = registry();
        let rt = user_rt(&reg);
        for ok in [
            "name pr",
            "emails co \"x\"",
            "active eq true",
            "badge eq \"AA==\"",
            "meta.created gt \"2011-01-01T00:00:00Z\"",
        ] {
            assert!(Filter::parse(ok).unwrap().check(&reg, &rt).is_ok(), "{ok}");
        }
        // Evaluating an unchecked ordering on a boolean matches nothing.
        assert!(
            !Filter::parse("active ge false")
                .unwrap()
                .matches(&bjensen(), &reg, &rt)
        );
    }

    #[test]
    fn element_filters_for_patch() {
        let reg = registry();
        let emails = reg.schema(urn::USER).unwrap().attribute("emails").unwrap();
        let work = json!({"value": "bjensen@example.com", "type": "work", "primary": true});
        let f = |s: &str| Filter::parse(s).unwrap();
        assert!(f(r#"type eq "WORK""#).matches_element(&work, emails));
        assert!(f(r#"type eq "work" and value co "@example""#).matches_element(&work, emails));
        assert!(!f(r#"type eq "home""#).matches_element(&work, emails));
        assert!(f("primary eq true").matches_element(&work, emails));
        assert!(f("display eq null").matches_element(&work, emails));
        assert!(!f("nope pr").matches_element(&work, emails));
        let tags = reg.schema(CUSTOM).unwrap().attribute("tags").unwrap();
        assert!(f(r#"value eq "BLUE""#).matches_element(&json!("blue"), tags));
        assert!(f("value pr").matches_element(&json!("blue"), tags));
        assert!(!f("other pr").matches_element(&json!("blue"), tags));
        let members = reg
            .schema(urn::GROUP)
            .unwrap()
            .attribute("members")
            .unwrap();
        assert!(
            f(r#"value eq "2819c223-7f76-453a-919d-413861904646""#).matches_element(
                &json!({"value": "2819c223-7f76-453a-919d-413861904646"}),
                members
            )
        );
    }

    #[test]
    fn compare_values_by_type() {
        let reg = registry();
        let user = reg.schema(urn::USER).unwrap();
        let attr = |n: &str| user.attribute(n).unwrap();
        use Ordering::*;
        assert_eq!(
            compare_values(&json!("abc"), &json!("ABD"), attr("userName")),
            Some(Less)
        );
        assert_eq!(
            compare_values(&json!("abc"), &json!("ABC"), attr("userName")),
            Some(Equal)
        );
        let rt = user_rt(&reg);
        let id = reg.resolve(&rt, &AttrPath::name("id")).unwrap().attr;
        assert_eq!(
            compare_values(&json!("abc"), &json!("ABC"), id),
            Some(Greater)
        );
        assert_eq!(
            compare_values(&json!(false), &json!(true), attr("active")),
            Some(Less)
        );
        assert_eq!(
            compare_values(
                &json!({"value": "b@x"}),
                &json!({"value": "A@x", "type": "work"}),
                attr("emails")
            ),
            Some(Greater)
        );
        assert_eq!(
            compare_values(&json!("x"), &json!({"value": "x"}), attr("emails")),
            None
        );
        assert_eq!(
            compare_values(&json!(1), &json!("1"), attr("userName")),
            None
        );
        let path = AttrPath::parse("meta.lastModified").unwrap();
        let created = reg.resolve(&rt, &path).unwrap().target();
        assert_eq!(
            compare_values(
                &json!("2011-05-13T04:42:34Z"),
                &json!("2011-05-13T06:00:00+02:00"),
                created
            ),
            Some(Greater)
        );
        assert_eq!(
            compare_values(&json!("2011-05-13T04:42:34Z"), &json!("soon"), created),
            None
        );
        let custom = reg.schema(CUSTOM).unwrap();
        let age = custom.attribute("age").unwrap();
        assert_eq!(
            compare_values(&json!(-5), &json!(u64::MAX), age),
            Some(Less)
        );
        assert_eq!(compare_values(&json!(2), &json!(2.0), age), Some(Equal));
        assert_eq!(compare_values(&json!(10), &json!(9), age), Some(Greater));
    }
}
