//! The registry of schemas and resource types a server (or a client's view of a server) knows.

use super::{Attribute, ResourceType, Schema};
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
