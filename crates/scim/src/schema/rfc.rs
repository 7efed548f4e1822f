//! The RFC 7643 definitions: common attributes, User, Group, Enterprise User, and the
//! discovery schemas.
//!
//! The definitions are kept as JSON in the RFC's own Schema representation (§8.7.1, §8.7.2)
//! under `rfc7643/`, parsed once on first use. Keeping them as data rather than Rust literals
//! means `/Schemas` serves exactly what validation enforces, and a reviewer can diff them
//! against the RFC. Where the RFC's printed JSON contradicts its own prose (known errata), the
//! prose wins:
//!
//! * Group `displayName` is `required: true` (§4.2 says REQUIRED; §8.7.1 prints `false`).
//! * Group `members` has a `display` sub-attribute (readOnly): §2.4 defines it for multi-valued
//!   attributes, the §8.4 example sends it, and so do real clients.
//! * Enterprise `manager.value` and `manager.$ref` are not required (§4.3 says RECOMMENDED;
//!   §8.7.1 prints `true`). Entra sends a manager with only `value`.
//! * "The primary attribute value 'true'": the RFC's lowercase JSON literal.

use std::sync::LazyLock;

use super::{Attribute, ResourceType, Schema, SchemaExtension};
use crate::urn;

const USER_JSON: &str = include_str!("rfc7643/user.json");
const GROUP_JSON: &str = include_str!("rfc7643/group.json");
const ENTERPRISE_USER_JSON: &str = include_str!("rfc7643/enterprise_user.json");
const COMMON_JSON: &str = include_str!("rfc7643/common.json");
const SERVICE_PROVIDER_CONFIG_JSON: &str = include_str!("rfc7643/service_provider_config.json");
const RESOURCE_TYPE_JSON: &str = include_str!("rfc7643/resource_type.json");
const SCHEMA_JSON: &str = include_str!("rfc7643/schema.json");

/// Parses a schema document compiled into the crate. The documents are fixed at build time and
/// a test parses every one of them, so a failure here is a build defect, not an input error.
fn builtin<T: serde::de::DeserializeOwned>(name: &str, json: &str) -> T {
    match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => panic!("built-in schema document {name} is invalid: {e}"),
    }
}

static USER: LazyLock<Schema> = LazyLock::new(|| builtin("user.json", USER_JSON));
static GROUP: LazyLock<Schema> = LazyLock::new(|| builtin("group.json", GROUP_JSON));
static ENTERPRISE_USER: LazyLock<Schema> =
    LazyLock::new(|| builtin("enterprise_user.json", ENTERPRISE_USER_JSON));
static COMMON: LazyLock<Vec<Attribute>> = LazyLock::new(|| builtin("common.json", COMMON_JSON));
static DISCOVERY: LazyLock<Vec<Schema>> = LazyLock::new(|| {
    vec![
        builtin("service_provider_config.json", SERVICE_PROVIDER_CONFIG_JSON),
        builtin("resource_type.json", RESOURCE_TYPE_JSON),
        builtin("schema.json", SCHEMA_JSON),
    ]
});

/// The common attributes of RFC 7643 §3.1: `id`, `externalId` and `meta`.
pub(crate) fn common_attributes() -> &'static [Attribute] {
    &COMMON
}

/// The core User schema (RFC 7643 §4.1, §8.7.1).
pub fn user_schema() -> Schema {
    USER.clone()
}

/// The core Group schema (RFC 7643 §4.2, §8.7.1).
pub fn group_schema() -> Schema {
    GROUP.clone()
}

/// The Enterprise User extension schema (RFC 7643 §4.3, §8.7.1).
pub fn enterprise_user_schema() -> Schema {
    ENTERPRISE_USER.clone()
}

/// The schemas of the discovery resources (RFC 7643 §8.7.2): ServiceProviderConfig,
/// ResourceType and Schema, in that order. They describe the `/ServiceProviderConfig`,
/// `/ResourceTypes` and `/Schemas` endpoints themselves, so `/Schemas` can list them; they are
/// not in [`Registry::rfc7643`](super::Registry::rfc7643) because nothing is ever created
/// against them.
pub fn discovery_schemas() -> Vec<Schema> {
    DISCOVERY.clone()
}

/// The `User` resource type: core User with the optional Enterprise User extension.
pub fn user_resource_type() -> ResourceType {
    ResourceType {
        id: "User".into(),
        name: "User".into(),
        endpoint: "/Users".into(),
        description: Some("User Account".into()),
        schema: urn::USER.into(),
        schema_extensions: vec![SchemaExtension {
            schema: urn::ENTERPRISE_USER.into(),
            required: false,
        }],
    }
}

/// The `Group` resource type.
pub fn group_resource_type() -> ResourceType {
    ResourceType {
        id: "Group".into(),
        name: "Group".into(),
        endpoint: "/Groups".into(),
        description: Some("Group".into()),
        schema: urn::GROUP.into(),
        schema_extensions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AttrType, Mutability, Returned, Uniqueness};

    fn walk<'a>(attrs: &'a [Attribute], out: &mut Vec<&'a Attribute>) {
        for a in attrs {
            out.push(a);
            walk(&a.sub_attributes, out);
        }
    }

    #[test]
    fn every_builtin_document_parses() {
        assert_eq!(user_schema().id, urn::USER);
        assert_eq!(group_schema().id, urn::GROUP);
        assert_eq!(enterprise_user_schema().id, urn::ENTERPRISE_USER);
        let ids: Vec<String> = discovery_schemas().into_iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            [
                urn::SERVICE_PROVIDER_CONFIG,
                urn::RESOURCE_TYPE,
                urn::SCHEMA
            ]
        );
        assert_eq!(common_attributes().len(), 3);
    }

    #[test]
    fn user_has_every_rfc_attribute_in_order() {
        let names: Vec<String> = user_schema()
            .attributes
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
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
                "groups",
                "entitlements",
                "roles",
                "x509Certificates",
            ]
        );
    }

    #[test]
    fn characteristics_match_the_rfc() {
        let user = user_schema();
        let un = user.attribute("username").unwrap();
        assert!(un.required && !un.case_exact);
        assert_eq!(un.uniqueness, Uniqueness::Server);
        let pw = user.attribute("password").unwrap();
        assert_eq!(pw.mutability, Mutability::WriteOnly);
        assert_eq!(pw.returned, Returned::Never);
        let groups = user.attribute("groups").unwrap();
        assert!(groups.multi_valued);
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert!(
            groups
                .sub_attributes
                .iter()
                .all(|s| s.mutability == Mutability::ReadOnly)
        );
        let cert = user
            .attribute("x509Certificates")
            .unwrap()
            .sub_attribute("value")
            .unwrap();
        assert_eq!(cert.kind, AttrType::Binary);
        let photo = user
            .attribute("photos")
            .unwrap()
            .sub_attribute("value")
            .unwrap();
        assert_eq!(photo.kind, AttrType::Reference);
        assert_eq!(photo.reference_types, ["external"]);
        assert!(photo.case_exact);
        let ims_type = user
            .attribute("ims")
            .unwrap()
            .sub_attribute("type")
            .unwrap();
        assert_eq!(
            ims_type.canonical_values,
            ["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
        );

        let group = group_schema();
        assert!(group.attribute("displayName").unwrap().required);
        let members = group.attribute("members").unwrap();
        assert_eq!(members.mutability, Mutability::ReadWrite);
        assert!(members.multi_valued);
        let ty = members.sub_attribute("type").unwrap();
        assert_eq!(ty.canonical_values, ["User", "Group"]);
        assert_eq!(
            members.sub_attribute("$ref").unwrap().reference_types,
            ["User", "Group"]
        );

        let ent = enterprise_user_schema();
        let manager = ent.attribute("manager").unwrap();
        assert!(!manager.multi_valued);
        assert!(manager.sub_attributes.iter().all(|s| !s.required));
        assert_eq!(
            manager.sub_attribute("displayName").unwrap().mutability,
            Mutability::ReadOnly
        );
    }

    #[test]
    fn common_attributes_match_section_3_1() {
        let id = &common_attributes()[0];
        assert_eq!(id.name, "id");
        assert!(id.case_exact);
        assert_eq!(id.mutability, Mutability::ReadOnly);
        assert_eq!(id.returned, Returned::Always);
        assert_eq!(id.uniqueness, Uniqueness::Server);
        let ext = &common_attributes()[1];
        assert_eq!(ext.name, "externalId");
        assert!(ext.case_exact);
        assert_eq!(ext.mutability, Mutability::ReadWrite);
        let meta = &common_attributes()[2];
        assert_eq!(meta.mutability, Mutability::ReadOnly);
        let kinds: Vec<(&str, AttrType)> = meta
            .sub_attributes
            .iter()
            .map(|s| (s.name.as_str(), s.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("resourceType", AttrType::String),
                ("created", AttrType::DateTime),
                ("lastModified", AttrType::DateTime),
                ("location", AttrType::Reference),
                ("version", AttrType::String),
            ]
        );
    }

    #[test]
    fn no_schema_defines_a_name_twice() {
        let mut all = vec![user_schema(), group_schema(), enterprise_user_schema()];
        all.extend(discovery_schemas());
        for schema in &all {
            let mut seen = std::collections::HashSet::new();
            for a in &schema.attributes {
                assert!(seen.insert(a.name.to_ascii_lowercase()), "{}", a.name);
            }
            let mut every = Vec::new();
            walk(&schema.attributes, &mut every);
            for a in every {
                assert_eq!(
                    a.kind == AttrType::Complex,
                    !a.sub_attributes.is_empty(),
                    "{}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn round_trips_through_the_wire_representation() {
        let user = user_schema();
        let json = serde_json::to_value(&user).unwrap();
        let back: Schema = serde_json::from_value(json).unwrap();
        assert_eq!(back, user);
    }
}
