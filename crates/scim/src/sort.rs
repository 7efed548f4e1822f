//! `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3).
//!
//! Sorting goes through a [`SortKey`] computed once per resource rather than a comparator:
//! a key has a total order by construction (the standard sort may panic on a comparator that
//! is not one, and a filter-style comparison is partial: it has no answer for a string in an
//! integer attribute), and a store can compute and index the same key to page through a
//! sorted set without loading it.
//!
//! Decisions, where the RFC leaves room:
//!
//! * Resources without a value "are ordered last if ascending and first if descending"
//!   (RFC 7644 §3.4.2.3): the key orders missing after every value and descending reverses the
//!   whole order. This is also PostgreSQL's default `NULLS` placement for both directions.
//!   A value that does not fit the attribute's type (text in an integer attribute, text that
//!   is not a dateTime) counts as missing: it has no place in the type's order.
//! * Strings compare by Unicode code point, lower-cased first unless the attribute is
//!   `caseExact`, as the filter evaluator compares them; binary is always case-exact.
//! * A multi-valued attribute sorts by its primary element, else its first; for a complex one
//!   without a named sub-attribute, by that element's `value` (`sortBy=emails`). A singular
//!   complex attribute must name a sub-attribute (`name.givenName`), as §3.4.2.3 requires.
//! * `sortBy` naming nothing the resource type defines is 400 `invalidValue`: silently
//!   returning an unsorted page would look like a correct answer.
//! * The sort is stable: equal keys keep the order they came in (the store's `id` order).

use std::cmp::{Ordering, Reverse};

use serde_json::Value;
use time::OffsetDateTime;

use crate::error::Error;
use crate::filter::parse_datetime;
use crate::path::{AttrPath, attribute_value, get_ci};
use crate::schema::{AttrType, Attribute, Registry, Resolved, ResourceType};

crate::messages::keyword_enum! {
    /// `sortOrder`; ascending unless asked otherwise (RFC 7644 §3.4.2.3).
    #[derive(Default)]
    pub enum SortOrder {
        #[default]
        Ascending => "ascending",
        Descending => "descending",
    }
}

/// The value a resource is sorted by, in the attribute type's order (ascending).
///
/// Within one `sortBy` every present key has the same variant, so the derived order between
/// variants only matters for `Missing`, which is declared last so that it sorts after every
/// value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SortKey {
    Bool(bool),
    Number(TotalF64),
    DateTime(OffsetDateTime),
    /// Already lower-cased when the attribute is not `caseExact`.
    Text(String),
    Missing,
}

impl SortKey {
    pub fn is_missing(&self) -> bool {
        matches!(self, SortKey::Missing)
    }

    /// Compares two keys in `order`: descending is the exact reverse, so missing values come
    /// first there, as RFC 7644 §3.4.2.3 says.
    pub fn cmp_in(&self, other: &SortKey, order: SortOrder) -> Ordering {
        match order {
            SortOrder::Ascending => self.cmp(other),
            SortOrder::Descending => other.cmp(self),
        }
    }
}

/// An `f64` with IEEE 754 total order, so that a key can be `Ord`. Integers beyond 2^53 lose
/// precision and may tie; nothing provisioning stores is that large.
#[derive(Debug, Clone, Copy)]
pub struct TotalF64(pub f64);

impl PartialEq for TotalF64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for TotalF64 {}
impl PartialOrd for TotalF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TotalF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl std::hash::Hash for TotalF64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// A `sortBy` resolved against one resource type, ready to compute keys.
#[derive(Debug, Clone, Copy)]
pub struct SortBy<'a> {
    resolved: Resolved<'a>,
    /// The sub-attribute read from each element: the named one, or `value` when a multi-valued
    /// complex attribute is named alone.
    sub: Option<&'a Attribute>,
    /// The attribute whose type and `caseExact` order the keys.
    target: &'a Attribute,
}

impl<'a> SortBy<'a> {
    /// Resolves `sort_by`; 400 `invalidValue` when it names nothing sortable.
    pub fn new(
        registry: &'a Registry,
        rt: &'a ResourceType,
        sort_by: &AttrPath,
    ) -> Result<SortBy<'a>, Error> {
        let resolved = registry.resolve(rt, sort_by).ok_or_else(|| {
            Error::InvalidValue(format!(
                "sortBy names '{sort_by}', which is not an attribute of {}",
                rt.name
            ))
        })?;
        let sub = match resolved.sub {
            Some(sub) => Some(sub),
            None if resolved.attr.kind == AttrType::Complex && resolved.attr.multi_valued => {
                Some(resolved.attr.sub_attribute("value").ok_or_else(|| {
                    Error::InvalidValue(format!(
                        "sortBy '{sort_by}' is a complex attribute without a value; name one of its sub-attributes"
                    ))
                })?)
            }
            None => None,
        };
        let target = sub.unwrap_or(resolved.attr);
        if target.kind == AttrType::Complex {
            let example = target
                .sub_attributes
                .first()
                .map_or(String::new(), |s| format!(", e.g. {sort_by}.{}", s.name));
            return Err(Error::InvalidValue(format!(
                "sortBy '{sort_by}' is a complex attribute; name one of its sub-attributes{example}"
            )));
        }
        Ok(SortBy {
            resolved,
            sub,
            target,
        })
    }

    /// The key `resource` sorts by.
    pub fn key(&self, resource: &Value) -> SortKey {
        let Some(value) = attribute_value(resource, &self.resolved) else {
            return SortKey::Missing;
        };
        let element = if self.resolved.attr.multi_valued {
            match value {
                Value::Array(items) => {
                    let present = || items.iter().filter(|v| !v.is_null());
                    match present()
                        .find(|v| is_primary(v))
                        .or_else(|| present().next())
                    {
                        Some(v) => v,
                        None => return SortKey::Missing,
                    }
                }
                single => single,
            }
        } else {
            value
        };
        let scalar = match self.sub {
            Some(sub) => match element.as_object().and_then(|o| get_ci(o, &sub.name)) {
                Some(v) => v,
                None => return SortKey::Missing,
            },
            None => element,
        };
        key_of(scalar, self.target)
    }

    /// Sorts `resources` in `order`, stably.
    pub fn sort(&self, resources: &mut [Value], order: SortOrder) {
        match order {
            SortOrder::Ascending => resources.sort_by_cached_key(|r| self.key(r)),
            SortOrder::Descending => resources.sort_by_cached_key(|r| Reverse(self.key(r))),
        }
    }
}

fn is_primary(v: &Value) -> bool {
    let primary = v.as_object().and_then(|o| get_ci(o, "primary"));
    match primary {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The key of one scalar value of `attr`.
fn key_of(v: &Value, attr: &Attribute) -> SortKey {
    match (attr.kind, v) {
        (AttrType::Boolean, Value::Bool(b)) => SortKey::Bool(*b),
        // Entra sends booleans as strings; validation stores them as booleans, but sorting
        // data that slipped through should not put it among the missing.
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            SortKey::Bool(true)
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            SortKey::Bool(false)
        }
        (AttrType::Integer | AttrType::Decimal, Value::Number(n)) => n
            .as_f64()
            .map_or(SortKey::Missing, |f| SortKey::Number(TotalF64(f))),
        (AttrType::DateTime, Value::String(s)) => {
            parse_datetime(s).map_or(SortKey::Missing, SortKey::DateTime)
        }
        (AttrType::Binary, Value::String(s)) => SortKey::Text(s.clone()),
        (AttrType::String | AttrType::Reference, Value::String(s)) => {
            SortKey::Text(if attr.case_exact {
                s.clone()
            } else {
                s.chars().flat_map(char::to_lowercase).collect()
            })
        }
        _ => SortKey::Missing,
    }
}

/// The key `resource` sorts by under `sort_by`; see [`SortBy`] to resolve once for many.
pub fn sort_key(
    resource: &Value,
    registry: &Registry,
    rt: &ResourceType,
    sort_by: &AttrPath,
) -> Result<SortKey, Error> {
    Ok(SortBy::new(registry, rt, sort_by)?.key(resource))
}

/// Sorts `resources` by `sort_by` in `order` (RFC 7644 §3.4.2.3), stably, missing values last
/// when ascending and first when descending.
pub fn sort_resources(
    resources: &mut [Value],
    registry: &Registry,
    rt: &ResourceType,
    sort_by: &AttrPath,
    order: SortOrder,
) -> Result<(), Error> {
    SortBy::new(registry, rt, sort_by)?.sort(resources, order);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(resources: &[Value]) -> Vec<&str> {
        resources
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect()
    }

    fn sorted(mut resources: Vec<Value>, by: &str, order: SortOrder) -> Vec<String> {
        let reg = Registry::rfc7643();
        let rt = reg.resource_type("User").unwrap();
        sort_resources(
            &mut resources,
            &reg,
            rt,
            &AttrPath::parse(by).unwrap(),
            order,
        )
        .unwrap();
        ids(&resources).into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn strings_ignore_case_unless_case_exact_and_missing_goes_last_then_first() {
        let users = vec![
            json!({"id": "b", "userName": "bob", "externalId": "b"}),
            json!({"id": "n", "externalId": "Z"}),
            json!({"id": "A", "userName": "Alice", "externalId": "a"}),
            json!({"id": "c", "userName": "carol", "externalId": "B"}),
        ];
        // userName is caseExact false: Alice < bob < carol, then the one without.
        assert_eq!(
            sorted(users.clone(), "userName", SortOrder::Ascending),
            ["A", "b", "c", "n"]
        );
        assert_eq!(
            sorted(users.clone(), "USERNAME", SortOrder::Descending),
            ["n", "c", "b", "A"]
        );
        // externalId is caseExact: upper case sorts before lower case.
        assert_eq!(
            sorted(users.clone(), "externalId", SortOrder::Ascending),
            ["c", "n", "A", "b"]
        );
        // id is caseExact too.
        assert_eq!(
            sorted(users, "id", SortOrder::Ascending),
            ["A", "b", "c", "n"]
        );
    }

    #[test]
    fn sub_attribute_and_extension() {
        let users = vec![
            json!({"id": "1", "name": {"familyName": "Jensen"}, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "9"}}),
            json!({"id": "2", "name": {"familyName": "adams"}, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "10"}}),
            json!({"id": "3", "name": {"givenName": "X"}}),
        ];
        assert_eq!(
            sorted(users.clone(), "name.familyName", SortOrder::Ascending),
            ["2", "1", "3"]
        );
        // employeeNumber is a string: "10" < "9".
        assert_eq!(
            sorted(
                users.clone(),
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                SortOrder::Ascending
            ),
            ["2", "1", "3"]
        );
        assert_eq!(
            sorted(users, "employeeNumber", SortOrder::Descending),
            ["3", "1", "2"]
        );
    }

    #[test]
    fn multi_valued_uses_primary_else_first() {
        let users = vec![
            json!({"id": "p", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
            json!({"id": "f", "emails": [{"value": "m@x"}, {"value": "b@x"}]}),
            json!({"id": "e", "emails": []}),
            json!({"id": "s", "emails": [null, {"value": "c@x", "primary": "True"}]}),
        ];
        assert_eq!(
            sorted(users.clone(), "emails", SortOrder::Ascending),
            ["p", "s", "f", "e"]
        );
        assert_eq!(
            sorted(users.clone(), "emails.value", SortOrder::Ascending),
            ["p", "s", "f", "e"]
        );
        assert_eq!(
            sorted(users, "emails.type", SortOrder::Ascending),
            ["p", "f", "e", "s"]
        );
    }

    #[test]
    fn typed_orders() {
        let users = vec![
            json!({"id": "t0", "active": true, "meta": {"lastModified": "2024-01-02T00:00:00Z"}}),
            json!({"id": "t1", "active": false, "meta": {"lastModified": "2024-01-01T23:00:00-02:00"}}),
            json!({"id": "bad", "active": "False", "meta": {"lastModified": "yesterday"}}),
            json!({"id": "local", "meta": {"lastModified": "2024-01-01T12:00:00"}}),
        ];
        // As text "2024-01-01T23…" sorts first; as time it is 01:00Z on the 2nd, after t0.
        assert_eq!(
            sorted(users.clone(), "meta.lastModified", SortOrder::Ascending),
            ["local", "t0", "t1", "bad"]
        );
        assert_eq!(
            sorted(users.clone(), "meta.lastModified", SortOrder::Descending),
            ["bad", "t1", "t0", "local"]
        );
        assert_eq!(
            sorted(users, "active", SortOrder::Ascending),
            ["t1", "bad", "t0", "local"]
        );
    }

    #[test]
    fn numbers_sort_numerically_and_wrong_types_count_as_missing() {
        let mut reg = Registry::rfc7643();
        reg.load_extension(
            &json!({"id": "urn:example:n:1.0", "attributes": [{"name": "level", "type": "integer"}]})
                .to_string(),
            "User",
            false,
        )
        .unwrap();
        let rt = reg.resource_type("User").unwrap();
        let mut users = vec![
            json!({"id": "ten", "urn:example:n:1.0": {"level": 10}}),
            json!({"id": "text", "urn:example:n:1.0": {"level": "2"}}),
            json!({"id": "nine", "urn:example:n:1.0": {"level": 9.5}}),
            json!({"id": "neg", "urn:example:n:1.0": {"level": -3}}),
        ];
        let by = AttrPath::parse("level").unwrap();
        sort_resources(&mut users, &reg, rt, &by, SortOrder::Ascending).unwrap();
        assert_eq!(ids(&users), ["neg", "nine", "ten", "text"]);
        assert_eq!(
            sort_key(&users[3], &reg, rt, &by).unwrap(),
            SortKey::Missing
        );
        assert_eq!(
            sort_key(&users[0], &reg, rt, &by).unwrap(),
            SortKey::Number(TotalF64(-3.0))
        );
    }

    #[test]
    fn stable_for_equal_keys() {
        let users: Vec<Value> = ["1", "2", "3", "4"]
            .iter()
            .map(|id| json!({"id": id, "userName": "same"}))
            .collect();
        assert_eq!(
            sorted(users.clone(), "userName", SortOrder::Ascending),
            ["1", "2", "3", "4"]
        );
        assert_eq!(
            sorted(users, "userName", SortOrder::Descending),
            ["1", "2", "3", "4"]
        );
    }

    #[test]
    fn keys_compare_like_the_sort() {
        let a = SortKey::Text("a".into());
        assert_eq!(
            a.cmp_in(&SortKey::Missing, SortOrder::Ascending),
            Ordering::Less
        );
        assert_eq!(
            a.cmp_in(&SortKey::Missing, SortOrder::Descending),
            Ordering::Greater
        );
        assert!(SortKey::Missing.is_missing());
    }

    #[test]
    fn unusable_sort_by_is_invalid_value() {
        let reg = Registry::rfc7643();
        let rt = reg.resource_type("User").unwrap();
        let err = |by: &str| {
            SortBy::new(&reg, rt, &AttrPath::parse(by).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("shoeSize"),
            "sortBy names 'shoeSize', which is not an attribute of User"
        );
        assert_eq!(
            err("name"),
            "sortBy 'name' is a complex attribute; name one of its sub-attributes, e.g. name.formatted"
        );
        assert_eq!(
            err("addresses"),
            "sortBy 'addresses' is a complex attribute without a value; name one of its sub-attributes"
        );
        assert_eq!(
            SortBy::new(&reg, rt, &AttrPath::parse("name").unwrap())
                .unwrap_err()
                .scim_type(),
            Some(crate::ScimType::InvalidValue)
        );
    }

    #[test]
    fn sort_order_keyword() {
        assert_eq!(SortOrder::parse("Descending"), Some(SortOrder::Descending));
        assert_eq!(SortOrder::default(), SortOrder::Ascending);
        assert_eq!(
            serde_json::to_value(SortOrder::Descending).unwrap(),
            json!("descending")
        );
    }

    #[test]
    fn odd_resources_do_not_panic() {
        let reg = Registry::rfc7643();
        let rt = reg.resource_type("User").unwrap();
        let mut docs = vec![
            json!(null),
            json!([1]),
            json!({"emails": "x"}),
            json!({"emails": {"value": "solo"}}),
            json!({"emails": [1, 2]}),
            json!({"name": []}),
        ];
        for by in [
            "emails",
            "emails.value",
            "name.givenName",
            "meta.created",
            "active",
        ] {
            sort_resources(
                &mut docs,
                &reg,
                rt,
                &AttrPath::parse(by).unwrap(),
                SortOrder::Descending,
            )
            .unwrap();
        }
    }
}
