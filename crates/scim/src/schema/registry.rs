//! The registry of schemas and resource types a server (or a client's view of a server) knows.

use serde_json::{Map, Value};

use super::{Attribute, ResourceType, Schema, SchemaExtension};
use crate::error::Error;
use crate::path::AttrPath;

/// All schemas and resource types, with case-insensitive lookups.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    schemas: Vec<Schema>,
    resource_types: Vec<ResourceType>,
}

/// Where an attribute path leads: the schema that defines it, the attribute, and the
/// sub-attribute when the path names one.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    /// URN of the schema holding the attribute; `None` for the common attributes (`id`,
    /// `externalId`, `meta`) of RFC 7643 §3.1, which belong to no schema.
    pub schema: Option<&'a str>,
    /// Whether `schema` is an extension of the resource type (its values live under the URN key).
    pub extension: bool,
    pub attr: &'a Attribute,
    pub sub: Option<&'a Attribute>,
}

impl<'a> Resolved<'a> {
    /// The attribute the path ends at: the sub-attribute if there is one.
    pub fn target(&self) -> &'a Attribute {
        self.sub.unwrap_or(self.attr)
    }
}

impl Registry {
    /// A registry with nothing in it.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// The RFC 7643 registry: the User (with the optional Enterprise User extension) and Group
    /// resource types and their schemas, as a server starts before loading custom extensions.
    pub fn rfc7643() -> Registry {
        Registry {
            schemas: vec![
                super::rfc::user_schema(),
                super::rfc::enterprise_user_schema(),
                super::rfc::group_schema(),
            ],
            resource_types: vec![
                super::rfc::user_resource_type(),
                super::rfc::group_resource_type(),
            ],
        }
    }

    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// The schema with this URN, case-insensitively.
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// The resource type with this id or name (`User`), case-insensitively.
    pub fn resource_type(&self, id_or_name: &str) -> Option<&ResourceType> {
        self.resource_types.iter().find(|r| {
            r.id.eq_ignore_ascii_case(id_or_name) || r.name.eq_ignore_ascii_case(id_or_name)
        })
    }

    /// The resource type served at this endpoint (`/Users` or `Users`).
    pub fn resource_type_by_endpoint(&self, endpoint: &str) -> Option<&ResourceType> {
        let e = endpoint.trim_start_matches('/');
        self.resource_types
            .iter()
            .find(|r| r.endpoint.trim_start_matches('/').eq_ignore_ascii_case(e))
    }

    /// Adds or replaces (by id) a schema.
    pub fn insert_schema(&mut self, schema: Schema) {
        match self
            .schemas
            .iter_mut()
            .find(|s| s.id.eq_ignore_ascii_case(&schema.id))
        {
            Some(slot) => *slot = schema,
            None => self.schemas.push(schema),
        }
    }

    /// Adds or replaces (by id) a resource type.
    pub fn insert_resource_type(&mut self, rt: ResourceType) {
        match self
            .resource_types
            .iter_mut()
            .find(|r| r.id.eq_ignore_ascii_case(&rt.id))
        {
            Some(slot) => *slot = rt,
            None => self.resource_types.push(rt),
        }
    }

    /// The schema URNs a resource of this type may carry: the core schema first, then the
    /// extensions.
    pub fn schema_urns<'a>(&'a self, rt: &'a ResourceType) -> impl Iterator<Item = &'a str> + 'a {
        std::iter::once(rt.schema.as_str())
            .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()))
    }

    /// Resolves an attribute path against a resource type.
    ///
    /// A path without a URN is looked up among the common attributes (`id`, `externalId`,
    /// `meta`), then in the core schema, then, when exactly one extension defines it, in that
    /// extension (lenient: RFC 7644 §3.10 wants extension attributes qualified, but clients
    /// often omit the URN where it is unambiguous).
    pub fn resolve<'a>(&'a self, rt: &'a ResourceType, path: &AttrPath) -> Option<Resolved<'a>> {
        let found = match &path.urn {
            Some(urn) => {
                let schema = self
                    .schema_urns(rt)
                    .find(|u| u.eq_ignore_ascii_case(urn))
                    .and_then(|u| self.schema(u))?;
                let extension = !schema.id.eq_ignore_ascii_case(&rt.schema);
                let attr = schema.attribute(&path.name).or_else(|| {
                    if extension {
                        None
                    } else {
                        common_attribute(&path.name)
                    }
                })?;
                let schema_id = if extension || !is_common(attr) {
                    Some(schema.id.as_str())
                } else {
                    None
                };
                (schema_id, extension, attr)
            }
            None => {
                if let Some(attr) = common_attribute(&path.name) {
                    (None, false, attr)
                } else if let Some(attr) = self
                    .schema(&rt.schema)
                    .and_then(|s| s.attribute(&path.name))
                {
                    (Some(rt.schema.as_str()), false, attr)
                } else {
                    let mut hits = rt
                        .schema_extensions
                        .iter()
                        .filter_map(|e| self.schema(&e.schema))
                        .filter_map(|s| s.attribute(&path.name).map(|a| (s.id.as_str(), a)));
                    let (urn, attr) = hits.next()?;
                    if hits.next().is_some() {
                        return None;
                    }
                    (Some(urn), true, attr)
                }
            }
        };
        let (schema, extension, attr) = found;
        let sub = match &path.sub {
            Some(name) => Some(attr.sub_attribute(name)?),
            None => None,
        };
        Some(Resolved {
            schema,
            extension,
            attr,
            sub,
        })
    }
}

fn is_common(attr: &Attribute) -> bool {
    common_attributes().iter().any(|c| std::ptr::eq(c, attr))
}

/// The common attributes of RFC 7643 §3.1, part of every resource but of no schema.
pub fn common_attributes() -> &'static [Attribute] {
    super::rfc::common_attributes()
}

/// The common attribute named `name`, case-insensitively.
pub fn common_attribute(name: &str) -> Option<&'static Attribute> {
    common_attributes()
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Largest schema document [`Registry::load_extension`] accepts, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 1 << 20;
/// Most attribute definitions (counting sub-attributes) one loaded schema may hold.
pub const MAX_SCHEMA_ATTRIBUTES: usize = 1000;
/// Longest attribute name a loaded schema may define.
pub const MAX_ATTR_NAME_LEN: usize = 128;
/// Longest schema URN a loaded schema may have.
pub const MAX_URN_LEN: usize = 512;

impl Registry {
    /// Loads a custom schema (RFC 7643 §7 representation, as `/Schemas` serves it) and
    /// registers it as an extension of `resource_type` (id or name, case-insensitively).
    ///
    /// Loading the same URN again replaces the definition, so an operator can evolve an
    /// extension without restarting with a fresh registry. The schema is checked before
    /// anything changes: on error the registry is untouched.
    pub fn load_extension(
        &mut self,
        schema_json: &str,
        resource_type: &str,
        required: bool,
    ) -> Result<(), Error> {
        let schema = parse_schema(schema_json)?;
        let Some(rt) = self.resource_type(resource_type).cloned() else {
            let known: Vec<&str> = self
                .resource_types
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            return Err(Error::InvalidValue(format!(
                "cannot load extension {}: no resource type '{resource_type}' (known: {})",
                schema.id,
                known.join(", ")
            )));
        };
        if let Some(owner) = self
            .resource_types
            .iter()
            .find(|r| r.schema.eq_ignore_ascii_case(&schema.id))
        {
            return Err(Error::InvalidValue(format!(
                "cannot load extension {}: it is the core schema of resource type {}",
                schema.id, owner.name
            )));
        }
        let urn = schema.id.clone();
        self.insert_schema(schema);
        let mut rt = rt;
        match rt
            .schema_extensions
            .iter_mut()
            .find(|e| e.schema.eq_ignore_ascii_case(&urn))
        {
            Some(ext) => {
                ext.schema = urn;
                ext.required = required;
            }
            None => rt.schema_extensions.push(SchemaExtension {
                schema: urn,
                required,
            }),
        }
        self.insert_resource_type(rt);
        Ok(())
    }

    /// Registers a whole new resource type with its core schema (RFC 7643 §7 representation).
    ///
    /// `rt.schema` must be the schema's id; extensions named in `rt.schema_extensions` must be
    /// loaded already (or be added afterwards with [`Registry::load_extension`]). The core
    /// schema may not redefine the common attributes (`id`, `externalId`, `meta`) nor `schemas`,
    /// which every resource has outside any schema.
    pub fn load_resource_type(&mut self, rt: ResourceType, schema_json: &str) -> Result<(), Error> {
        let schema = parse_schema(schema_json)?;
        let bad = |detail: String| {
            Err(Error::InvalidValue(format!(
                "resource type {}: {detail}",
                rt.name
            )))
        };
        if !rt.schema.eq_ignore_ascii_case(&schema.id) {
            return bad(format!(
                "its schema is {} but the schema document has id {}",
                rt.schema, schema.id
            ));
        }
        if !is_attr_name(&rt.name) || rt.id.is_empty() {
            return bad("the id must be non-empty and the name a letter then letters, digits, '-' or '_', e.g. 'Device'".into());
        }
        let endpoint = rt.endpoint.trim_start_matches('/');
        if endpoint.is_empty()
            || !endpoint
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad(format!(
                "endpoint '{}' must be a single path segment such as '/Devices'",
                rt.endpoint
            ));
        }
        const RESERVED: [&str; 5] = [
            "Schemas",
            "ResourceTypes",
            "ServiceProviderConfig",
            "Bulk",
            ".search",
        ];
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(endpoint)) {
            return bad(format!(
                "endpoint '{}' is reserved by RFC 7644",
                rt.endpoint
            ));
        }
        if let Some(other) = self.resource_types.iter().find(|r| {
            !r.id.eq_ignore_ascii_case(&rt.id)
                && (r.name.eq_ignore_ascii_case(&rt.name)
                    || r.endpoint
                        .trim_start_matches('/')
                        .eq_ignore_ascii_case(endpoint))
        }) {
            return bad(format!(
                "its name or endpoint clashes with resource type {} ({})",
                other.name, other.endpoint
            ));
        }
        if let Some(other) = self.resource_types.iter().find(|r| {
            !r.id.eq_ignore_ascii_case(&rt.id)
                && (r.schema.eq_ignore_ascii_case(&schema.id)
                    || r.schema_extensions
                        .iter()
                        .any(|e| e.schema.eq_ignore_ascii_case(&schema.id)))
        }) {
            return bad(format!(
                "schema {} is already used by resource type {}",
                schema.id, other.name
            ));
        }
        for reserved in ["id", "externalId", "meta", "schemas"] {
            if schema.attribute(reserved).is_some() {
                return bad(format!(
                    "the core schema may not define '{reserved}': every resource has it outside any schema (RFC 7643 §3)"
                ));
            }
        }
        for ext in &rt.schema_extensions {
            if self.schema(&ext.schema).is_none() {
                return bad(format!(
                    "extension {} is not loaded; load it first or add it afterwards with load_extension",
                    ext.schema
                ));
            }
        }
        let mut rt = rt;
        rt.schema = schema.id.clone();
        self.insert_schema(schema);
        self.insert_resource_type(rt);
        Ok(())
    }
}

/// Parses and checks a schema document, accepting the bare Schema representation or the
/// resource as `/Schemas` serves it (with `schemas` and `meta`), so an operator can paste
/// either.
fn parse_schema(json: &str) -> Result<Schema, Error> {
    let bad = |detail: String| Error::InvalidValue(format!("invalid schema: {detail}"));
    if json.len() > MAX_SCHEMA_BYTES {
        return Err(bad(format!(
            "the document is {} bytes; the limit is {MAX_SCHEMA_BYTES}",
            json.len()
        )));
    }
    let value: Value = serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(bad(
            "expected a JSON object with 'id' and 'attributes'".into()
        ));
    };
    let mut out = Map::new();
    for (key, v) in obj {
        let canon = ["id", "name", "description", "attributes", "schemas", "meta"]
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(&key));
        match canon {
            Some("schemas" | "meta") => {}
            Some(_) if v.is_null() => {}
            Some(k) => {
                if out.insert(k.to_owned(), v).is_some() {
                    return Err(bad(format!("'{k}' appears twice")));
                }
            }
            None => {
                return Err(bad(format!(
                    "unknown member '{key}' (a schema has id, name, description, attributes)"
                )));
            }
        }
    }
    let Some(Value::String(id)) = out.get("id") else {
        return Err(bad("'id' must be a string URN".into()));
    };
    check_urn(id).map_err(|d| bad(format!("id '{id}' {d}")))?;
    let id = id.clone();
    let Some(Value::Array(attrs)) = out.remove("attributes") else {
        return Err(bad(format!("schema {id}: 'attributes' must be an array")));
    };
    let mut count = 0;
    let attrs = attrs
        .into_iter()
        .enumerate()
        .map(|(i, a)| normalize_attr(a, &format!("attributes[{i}]"), 0, &mut count))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|d| bad(format!("schema {id}: {d}")))?;
    out.insert("attributes".into(), Value::Array(attrs));
    let schema: Schema =
        serde_json::from_value(Value::Object(out)).map_err(|e| bad(format!("schema {id}: {e}")))?;
    check_names(&schema.attributes, "attributes", 0)
        .map_err(|d| bad(format!("schema {id}: {d}")))?;
    Ok(schema)
}

/// `urn:<nid>:<nss>` (RFC 8141, loosely): what RFC 7643 §7 asks of a schema id, and what the
/// path parser needs (the attribute name starts after the URN's last colon).
fn check_urn(id: &str) -> Result<(), String> {
    if id.len() > MAX_URN_LEN {
        return Err(format!("is longer than {MAX_URN_LEN} bytes"));
    }
    let mut parts = id.splitn(3, ':');
    let (scheme, nid, nss) = (parts.next(), parts.next(), parts.next());
    let ok_nid = nid.is_some_and(|n| {
        (1..=32).contains(&n.len())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !n.starts_with('-')
    });
    let ok_nss = nss.is_some_and(|n| {
        !n.is_empty()
            && !n.ends_with(':')
            && n.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '[' | ']' | '\\'))
    });
    if !scheme.is_some_and(|s| s.eq_ignore_ascii_case("urn")) || !ok_nid || !ok_nss {
        return Err(
            "is not a URN; use the form urn:<namespace>:<name>, e.g. urn:example:params:scim:schemas:extension:acme:2.0:User"
                .into(),
        );
    }
    Ok(())
}

/// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA (RFC 7643 §2.1).
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

const ATTR_KEYS: [&str; 12] = [
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "canonicalValues",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "referenceTypes",
    "subAttributes",
];

/// Renames an attribute definition's keys and keyword values to their canonical spelling and
/// rejects unknown keys: a misspelt `multivalued` silently ignored would change the schema.
fn normalize_attr(v: Value, at: &str, depth: usize, count: &mut usize) -> Result<Value, String> {
    *count += 1;
    if *count > MAX_SCHEMA_ATTRIBUTES {
        return Err(format!(
            "more than {MAX_SCHEMA_ATTRIBUTES} attribute definitions"
        ));
    }
    let Value::Object(obj) = v else {
        return Err(format!("{at} must be an object"));
    };
    let mut out = Map::new();
    for (key, v) in obj {
        let Some(k) = ATTR_KEYS.into_iter().find(|k| k.eq_ignore_ascii_case(&key)) else {
            return Err(format!(
                "{at}: unknown member '{key}' (expected one of {})",
                ATTR_KEYS.join(", ")
            ));
        };
        if v.is_null() {
            continue;
        }
        let v = match (k, v) {
            ("type", Value::String(s)) => keyword(
                &s,
                &[
                    "string",
                    "boolean",
                    "decimal",
                    "integer",
                    "dateTime",
                    "binary",
                    "reference",
                    "complex",
                ],
                at,
                k,
            )?,
            ("mutability", Value::String(s)) => keyword(
                &s,
                &["readOnly", "readWrite", "immutable", "writeOnly"],
                at,
                k,
            )?,
            ("returned", Value::String(s)) => {
                keyword(&s, &["always", "never", "default", "request"], at, k)?
            }
            ("uniqueness", Value::String(s)) => keyword(&s, &["none", "server", "global"], at, k)?,
            ("subAttributes", Value::Array(subs)) => {
                if depth > 0 {
                    return Err(format!(
                        "{at}: a sub-attribute cannot have sub-attributes (RFC 7643 §2.3.8: no complex within complex)"
                    ));
                }
                Value::Array(
                    subs.into_iter()
                        .enumerate()
                        .map(|(i, s)| {
                            normalize_attr(s, &format!("{at}.subAttributes[{i}]"), depth + 1, count)
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            (_, v) => v,
        };
        if out.insert(k.to_owned(), v).is_some() {
            return Err(format!("{at}: '{k}' appears twice"));
        }
    }
    let name = out
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(kind) = out.get("type").and_then(Value::as_str) else {
        return Err(format!("{at} ('{name}'): 'type' is required"));
    };
    let has_subs = out
        .get("subAttributes")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    if kind == "complex" && !has_subs {
        return Err(format!(
            "{at} ('{name}'): a complex attribute needs at least one sub-attribute"
        ));
    }
    if kind != "complex" && out.contains_key("subAttributes") {
        return Err(format!(
            "{at} ('{name}'): only complex attributes have sub-attributes, this one is {kind}"
        ));
    }
    if kind == "complex" && depth > 0 {
        return Err(format!(
            "{at} ('{name}'): a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
        ));
    }
    Ok(Value::Object(out))
}

fn keyword(s: &str, allowed: &[&str], at: &str, key: &str) -> Result<Value, String> {
    match allowed.iter().find(|a| a.eq_ignore_ascii_case(s)) {
        Some(a) => Ok(Value::String((*a).to_owned())),
        None => Err(format!(
            "{at}: '{key}' is '{s}', expected one of {}",
            allowed.join(", ")
        )),
    }
}

fn check_names(attrs: &[Attribute], at: &str, depth: usize) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::with_capacity(attrs.len());
    for (i, a) in attrs.iter().enumerate() {
        // `$ref` is the one name outside ATTRNAME the RFC itself uses, for sub-attributes.
        let ok = is_attr_name(&a.name) || (depth > 0 && a.name == "$ref");
        if !ok || a.name.len() > MAX_ATTR_NAME_LEN {
            return Err(format!(
                "{at}[{i}]: '{}' is not a valid attribute name (a letter, then letters, digits, '-' or '_', at most {MAX_ATTR_NAME_LEN})",
                a.name
            ));
        }
        if let Some(prev) = seen.iter().find(|s| s.eq_ignore_ascii_case(&a.name)) {
            return Err(format!(
                "{at}[{i}]: '{}' is defined twice (as '{prev}'); names are case-insensitive",
                a.name
            ));
        }
        seen.push(&a.name);
        check_names(
            &a.sub_attributes,
            &format!("{at}[{i}].subAttributes"),
            depth + 1,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{AttrType, Mutability};
    use crate::urn;

    const ACME: &str = r#"{
        "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
        "name": "AcmeUser",
        "attributes": [
            {"name": "badge", "type": "integer", "multiValued": false},
            {"name": "Clearance", "type": "STRING", "mutability": "immutable"},
            {"name": "sites", "type": "complex", "multiValued": true, "subAttributes": [
                {"name": "value", "type": "string"},
                {"name": "primary", "type": "boolean"}
            ]}
        ]
    }"#;

    fn load_err(json: &str) -> String {
        let mut reg = Registry::rfc7643();
        let before = reg.clone();
        let err = reg.load_extension(json, "User", false).unwrap_err();
        assert!(matches!(err, Error::InvalidValue(_)), "{err:?}");
        assert_eq!(reg.schemas(), before.schemas(), "registry changed on error");
        err.to_string()
    }

    #[test]
    fn rfc_registry_resolves_core_extension_and_common_paths() {
        let reg = Registry::rfc7643();
        let user = reg.resource_type_by_endpoint("/Users").unwrap();
        assert_eq!(
            reg.schema_urns(user).collect::<Vec<_>>(),
            [urn::USER, urn::ENTERPRISE_USER]
        );
        let r = reg
            .resolve(user, &AttrPath::parse("emails.VALUE").unwrap())
            .unwrap();
        assert_eq!(r.schema, Some(urn::USER));
        assert_eq!(r.target().name, "value");
        let r = reg
            .resolve(user, &AttrPath::parse("employeeNumber").unwrap())
            .unwrap();
        assert_eq!((r.schema, r.extension), (Some(urn::ENTERPRISE_USER), true));
        let r = reg
            .resolve(user, &AttrPath::parse("meta.lastModified").unwrap())
            .unwrap();
        assert_eq!((r.schema, r.target().kind), (None, AttrType::DateTime));
        let group = reg.resource_type("group").unwrap();
        assert!(
            reg.resolve(group, &AttrPath::parse("members.display").unwrap())
                .is_some()
        );
        assert!(
            reg.resolve(group, &AttrPath::parse("userName").unwrap())
                .is_none()
        );
    }

    #[test]
    fn loads_an_extension_with_canonical_keywords() {
        let mut reg = Registry::rfc7643();
        reg.load_extension(ACME, "user", true).unwrap();
        let rt = reg.resource_type("User").unwrap();
        assert_eq!(rt.schema_extensions.len(), 2);
        assert!(rt.schema_extensions[1].required);
        let r = reg
            .resolve(rt, &AttrPath::parse("clearance").unwrap())
            .unwrap();
        assert_eq!(r.attr.kind, AttrType::String);
        assert_eq!(r.attr.mutability, Mutability::Immutable);
        // Reloading replaces rather than duplicates.
        reg.load_extension(ACME, "User", false).unwrap();
        let rt = reg.resource_type("User").unwrap();
        assert_eq!(rt.schema_extensions.len(), 2);
        assert!(!rt.schema_extensions[1].required);
    }

    #[test]
    fn accepts_the_schemas_endpoint_wrapper() {
        let wrapped = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id":"urn:example:ext:1","attributes":[{"name":"x","type":"string"}],
            "meta":{"resourceType":"Schema","location":"/Schemas/urn:example:ext:1"}}"#;
        let mut reg = Registry::rfc7643();
        reg.load_extension(wrapped, "Group", false).unwrap();
        assert!(reg.schema("URN:example:ext:1").is_some());
    }

    #[test]
    fn schema_errors_are_actionable() {
        assert_eq!(
            load_err(r#"{"id":"acme-user","attributes":[]}"#),
            "invalid schema: id 'acme-user' is not a URN; use the form urn:<namespace>:<name>, e.g. urn:example:params:scim:schemas:extension:acme:2.0:User"
        );
        assert_eq!(
            load_err(r#"{"id":"urn:x:y","attributes":[{"name":"2fa","type":"string"}]}"#),
            "invalid schema: schema urn:x:y: attributes[0]: '2fa' is not a valid attribute name (a letter, then letters, digits, '-' or '_', at most 128)"
        );
        assert_eq!(
            load_err(
                r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"string"},{"name":"A","type":"integer"}]}"#
            ),
            "invalid schema: schema urn:x:y: attributes[1]: 'A' is defined twice (as 'a'); names are case-insensitive"
        );
        assert_eq!(
            load_err(
                r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"string","subAttributes":[{"name":"b","type":"string"}]}]}"#
            ),
            "invalid schema: schema urn:x:y: attributes[0] ('a'): only complex attributes have sub-attributes, this one is string"
        );
        assert_eq!(
            load_err(
                r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"complex","subAttributes":[{"name":"b","type":"complex","subAttributes":[]}]}]}"#
            ),
            "invalid schema: schema urn:x:y: attributes[0].subAttributes[0]: a sub-attribute cannot have sub-attributes (RFC 7643 §2.3.8: no complex within complex)"
        );
        assert_eq!(
            load_err(r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"complex"}]}"#),
            "invalid schema: schema urn:x:y: attributes[0] ('a'): a complex attribute needs at least one sub-attribute"
        );
        assert_eq!(
            load_err(r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"text"}]}"#),
            "invalid schema: schema urn:x:y: attributes[0]: 'type' is 'text', expected one of string, boolean, decimal, integer, dateTime, binary, reference, complex"
        );
        assert_eq!(
            load_err(
                r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"string","multivalue":true}]}"#
            ),
            "invalid schema: schema urn:x:y: attributes[0]: unknown member 'multivalue' (expected one of name, type, multiValued, description, required, canonicalValues, caseExact, mutability, returned, uniqueness, referenceTypes, subAttributes)"
        );
        assert_eq!(
            load_err(&format!("{{\"id\":\"{}\",\"attributes\":[]}}", urn::USER)),
            format!(
                "cannot load extension {}: it is the core schema of resource type User",
                urn::USER
            )
        );
        assert!(load_err("[1]").starts_with("invalid schema: expected a JSON object"));
        assert!(load_err("{").starts_with("invalid schema: not JSON: "));
        let big = format!(
            "{{\"id\":\"urn:x:y\",\"attributes\":[{}]}}",
            vec![r#"{"name":"a","type":"string"}"#; MAX_SCHEMA_ATTRIBUTES + 1].join(",")
        );
        assert_eq!(
            load_err(&big),
            "invalid schema: schema urn:x:y: more than 1000 attribute definitions"
        );
        let mut reg = Registry::rfc7643();
        assert_eq!(
            reg.load_extension(ACME, "Devices", false)
                .unwrap_err()
                .to_string(),
            "cannot load extension urn:example:params:scim:schemas:extension:acme:2.0:User: no resource type 'Devices' (known: User, Group)"
        );
    }

    #[test]
    fn registers_a_new_resource_type() {
        let mut reg = Registry::rfc7643();
        let device = ResourceType {
            id: "Device".into(),
            name: "Device".into(),
            endpoint: "/Devices".into(),
            description: None,
            schema: "urn:example:scim:Device".into(),
            schema_extensions: vec![],
        };
        let schema = r#"{"id":"urn:example:scim:Device","name":"Device",
            "attributes":[{"name":"serial","type":"string","required":true}]}"#;
        reg.load_resource_type(device.clone(), schema).unwrap();
        let rt = reg.resource_type_by_endpoint("devices").unwrap();
        assert!(
            reg.resolve(rt, &AttrPath::parse("serial").unwrap())
                .is_some()
        );

        let mut clash = device.clone();
        clash.id = "Gadget".into();
        clash.name = "Gadget".into();
        clash.endpoint = "/Users".into();
        assert_eq!(
            reg.load_resource_type(clash, schema)
                .unwrap_err()
                .to_string(),
            "resource type Gadget: its name or endpoint clashes with resource type User (/Users)"
        );
        let with_id =
            r#"{"id":"urn:example:scim:Device","attributes":[{"name":"id","type":"string"}]}"#;
        assert_eq!(
            reg.load_resource_type(device.clone(), with_id)
                .unwrap_err()
                .to_string(),
            "resource type Device: the core schema may not define 'id': every resource has it outside any schema (RFC 7643 §3)"
        );
        let mut reserved = device;
        reserved.endpoint = "/Schemas".into();
        assert_eq!(
            reg.load_resource_type(reserved, schema)
                .unwrap_err()
                .to_string(),
            "resource type Device: endpoint '/Schemas' is reserved by RFC 7644"
        );
    }
}
