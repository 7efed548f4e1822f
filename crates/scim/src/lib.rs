//! The SCIM 2.0 protocol (RFC 7643 schema, RFC 7644 protocol) with no I/O.
//!
//! Everything that speaks SCIM in scimsync (the directory server, the client, the provisioning
//! engine, the CLI) shares this crate, so it holds the whole protocol logic and nothing that
//! touches a socket or a disk: it builds in seconds and every part can be tested on its own.
//!
//! Resources are schema-driven JSON (`serde_json::Value`) rather than Rust structs: a custom
//! extension schema loaded at run time works exactly like the core User and Group, without code.
//! The [`schema::Registry`] carries the attribute characteristics (type, mutability, returned,
//! caseExact, …) that validation, filtering, PATCH, projection and sorting all consult.

pub mod error;
pub mod filter;
pub mod messages;
pub mod patch;
pub mod path;
pub mod project;
pub mod schema;
pub mod sort;
pub mod validate;

pub use error::{Error, ParseError, ScimType};
pub use filter::Filter;
pub use path::{AttrPath, PatchPath};
pub use schema::Registry;

/// `a == b`, quicker on the usual case of two maps holding the same keys in the same order (a
/// stored resource and a modified copy of it): a map compared as a map looks every key up by
/// its hash, at every level of the resource.
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return false;
            }
            if x.keys().eq(y.keys()) {
                x.values().zip(y.values()).all(|(v, w)| json_eq(v, w))
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_eq(v, w))
        }
        _ => a == b,
    }
}

/// Schema URNs defined by RFC 7643 and RFC 7644.
pub mod urn {
    pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    pub const SERVICE_PROVIDER_CONFIG: &str =
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
    pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
    pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
    pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
    pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::json_eq;

    #[test]
    fn json_eq_is_value_equality() {
        let a = json!({"userName": "b", "name": {"givenName": "B", "familyName": "J"}, "emails": [{"value": "x"}, {"value": "y"}]});
        let reordered = json!({"name": {"familyName": "J", "givenName": "B"}, "emails": [{"value": "x"}, {"value": "y"}], "userName": "b"});
        let nested_change = json!({"userName": "b", "name": {"givenName": "B", "familyName": "K"}, "emails": [{"value": "x"}, {"value": "y"}]});
        let swapped_elements = json!({"userName": "b", "name": {"givenName": "B", "familyName": "J"}, "emails": [{"value": "y"}, {"value": "x"}]});
        let extra_key = json!({"userName": "b", "name": {"givenName": "B", "familyName": "J"}, "emails": [{"value": "x"}, {"value": "y"}], "title": null});
        for (b, equal) in [
            (&a, true),
            (&reordered, true),
            (&nested_change, false),
            (&swapped_elements, false),
            (&extra_key, false),
        ] {
            assert_eq!(json_eq(&a, b), equal, "{b}");
            assert_eq!(json_eq(&a, b), a == *b, "{b}");
            assert_eq!(json_eq(b, &a), equal, "{b}");
        }
        assert!(!json_eq(&json!(1), &json!(1.0)));
        assert!(!json_eq(&json!(1), &json!("1")));
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-d]", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// The same value with every object's keys in reverse order.
    fn reversed(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .rev()
                    .map(|(k, v)| (k.clone(), reversed(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(reversed).collect()),
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn json_eq_agrees_with_equality(a in value(), b in value()) {
            prop_assert_eq!(json_eq(&a, &b), a == b);
            prop_assert!(json_eq(&a, &reversed(&a)));
        }
    }
}
