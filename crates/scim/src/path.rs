//! Attribute paths (RFC 7644 §3.10) and PATCH paths (RFC 7644 §3.5.2).
//!
//! An attribute path is `[URN ":"] name ["." subAttr]`. URNs contain dots (`…:enterprise:2.0:User`),
//! so the attribute name starts after the URN's last colon and only a dot after that separates
//! a sub-attribute. A path is purely syntactic here; [`crate::Registry::resolve`] gives it meaning.

use std::fmt;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::error::{Error, ParseError};
use crate::filter::Filter;
use crate::schema::{
    AttrType, Attribute, Mutability, Registry, Resolved, ResourceType, Returned, Uniqueness,
};

/// Longest path accepted, in bytes: far above any real schema URN plus attribute names.
pub const MAX_PATH_LEN: usize = 1024;

/// `[urn:]name[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, without the trailing colon.
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A plain attribute name with no URN and no sub-attribute.
    pub fn name(name: impl Into<String>) -> AttrPath {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// Parses `[urn:]name[.sub]`.
    pub fn parse(input: &str) -> Result<AttrPath, Error> {
        let err = |span: std::ops::Range<usize>, msg: &str| {
            Error::PathSyntax(ParseError::new(input, span, msg))
        };
        if input.len() > MAX_PATH_LEN {
            return Err(err(MAX_PATH_LEN..input.len(), "attribute path is too long"));
        }
        if input.is_empty() {
            return Err(err(0..0, "expected an attribute name"));
        }
        let is_urn = input
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        let (urn, rest, offset) = if input.len() > 4 && is_urn {
            match input.rfind(':') {
                Some(i) => (Some(&input[..i]), &input[i + 1..], i + 1),
                None => unreachable!("starts with urn:"),
            }
        } else {
            (None, input, 0)
        };
        let (name, sub) = match rest.find('.') {
            Some(i) => (&rest[..i], Some((&rest[i + 1..], offset + i + 1))),
            None => (rest, None),
        };
        check_attr_name(input, name, offset)?;
        if let Some((sub, at)) = sub {
            check_attr_name(input, sub, at)?;
        }
        Ok(AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(|(s, _)| s.to_owned()),
        })
    }

    /// The same path without its sub-attribute.
    pub fn parent(&self) -> AttrPath {
        AttrPath {
            urn: self.urn.clone(),
            name: self.name.clone(),
            sub: None,
        }
    }
}

/// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA (RFC 7643 §2.1). `$ref` is
/// allowed too: RFC 7643 uses it as a sub-attribute name.
pub(crate) fn check_attr_name(input: &str, name: &str, at: usize) -> Result<(), Error> {
    let bad = |off: usize, len: usize, msg: String| {
        Err(Error::PathSyntax(ParseError::new(
            input,
            at + off..at + off + len,
            msg,
        )))
    };
    if name.is_empty() {
        return bad(0, 0, "expected an attribute name".into());
    }
    if name == "$ref" {
        return Ok(());
    }
    for (i, c) in name.char_indices() {
        let ok = if i == 0 {
            c.is_ascii_alphabetic()
        } else {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        };
        if !ok {
            return bad(
                i,
                c.len_utf8(),
                format!("unexpected character '{c}' in attribute name"),
            );
        }
    }
    Ok(())
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A PATCH path (RFC 7644 §3.5.2): `attrPath` or `valuePath ["." subAttr]`, i.e.
/// `[urn:]name[.sub]`, `[urn:]name[filter]` or `[urn:]name[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with `sub` set for `name.sub` and for `name[filter].sub`.
    pub attr: AttrPath,
    /// The value filter selecting elements of a multi-valued attribute; its attribute paths are
    /// relative to the element (sub-attribute names).
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// Parses a PATCH path within the default filter limits.
    pub fn parse(input: &str) -> Result<PatchPath, Error> {
        crate::filter::parse_patch_path(input)
    }

    /// [`PatchPath::parse`] within explicit limits: a path's value filter is a filter.
    pub fn parse_with(input: &str, limits: &crate::filter::Limits) -> Result<PatchPath, Error> {
        crate::filter::parse_patch_path_with(input, limits)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => self.attr.fmt(f),
            Some(filter) => {
                if let Some(urn) = &self.attr.urn {
                    write!(f, "{urn}:")?;
                }
                write!(f, "{}[{}]", self.attr.name, filter)?;
                if let Some(sub) = &self.attr.sub {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

/// Looks `key` up in a JSON object case-insensitively, as RFC 7643 §2.1 wants attribute names
/// matched. The exact spelling is tried first: stored resources use canonical names, so the
/// linear scan only runs for unusual input.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Every value `path` reaches in `resource`, with multi-valued attributes flattened into their
/// elements (`emails.value` gives one value per email) and `null` left out, since RFC 7643 §2.5
/// makes `null` the same as unassigned.
///
/// Attributes of an extension schema are read under the extension's URN key. A path the registry
/// does not know reaches nothing: callers that must reject unknown attributes resolve the path
/// first.
pub fn values_at<'a>(
    resource: &'a Value,
    registry: &Registry,
    rt: &ResourceType,
    path: &AttrPath,
) -> Vec<&'a Value> {
    let mut out = Vec::new();
    if let Some(resolved) = resolve(registry, rt, path) {
        visit_values(resource, &resolved, &mut |v| {
            out.push(v);
            false
        });
    }
    out
}

/// [`Registry::resolve`], plus the `schemas` attribute every resource carries (RFC 7643 §3)
/// but no schema defines, so that filters such as RFC 7644's
/// `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"` work.
pub(crate) fn resolve<'a>(
    registry: &'a Registry,
    rt: &'a ResourceType,
    path: &AttrPath,
) -> Option<Resolved<'a>> {
    registry.resolve(rt, path).or_else(|| {
        (path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("schemas"))
            .then(|| Resolved {
                schema: None,
                extension: false,
                attr: &SCHEMAS,
                sub: None,
            })
    })
}

/// `schemas`: multi-valued URIs. URNs compare case-insensitively (RFC 8141 §3.1 for the
/// namespace; SCIM's own URNs are matched case-insensitively throughout).
static SCHEMAS: LazyLock<Attribute> = LazyLock::new(|| Attribute {
    name: "schemas".to_owned(),
    kind: AttrType::Reference,
    multi_valued: true,
    description: None,
    required: true,
    canonical_values: Vec::new(),
    case_exact: false,
    mutability: Mutability::ReadWrite,
    returned: Returned::Always,
    uniqueness: Uniqueness::None,
    reference_types: vec!["uri".to_owned()],
    sub_attributes: Vec::new(),
});

/// The attribute's own value (an element array, an object or a scalar), read from the resource
/// under the URN key when the attribute belongs to an extension.
pub(crate) fn attribute_value<'a>(
    resource: &'a Value,
    resolved: &Resolved<'_>,
) -> Option<&'a Value> {
    let obj = resource.as_object()?;
    let container = if resolved.extension {
        get_ci(obj, resolved.schema?)?.as_object()?
    } else {
        obj
    };
    get_ci(container, &resolved.attr.name).filter(|v| !v.is_null())
}

/// Calls `f` on each value the resolved path reaches (see [`values_at`]) until it returns true;
/// returns whether it did. Shared by [`values_at`] and the filter evaluator, which stops at the
/// first matching value instead of collecting them.
pub(crate) fn visit_values<'a>(
    resource: &'a Value,
    resolved: &Resolved<'_>,
    f: &mut dyn FnMut(&'a Value) -> bool,
) -> bool {
    let Some(value) = attribute_value(resource, resolved) else {
        return false;
    };
    let sub = resolved.sub.map(|s| s.name.as_str());
    let elements: &[Value] = match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    };
    for element in elements {
        if element.is_null() {
            continue;
        }
        match sub {
            None => {
                if f(element) {
                    return true;
                }
            }
            Some(sub) => {
                let Some(v) = element.as_object().and_then(|o| get_ci(o, sub)) else {
                    continue;
                };
                let inner: &[Value] = match v {
                    Value::Array(items) => items,
                    other => std::slice::from_ref(other),
                };
                for v in inner {
                    if !v.is_null() && f(v) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_with_dots_keeps_sub_attribute() {
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(
            p.to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
    }

    #[test]
    fn plain_and_sub() {
        assert_eq!(
            AttrPath::parse("name.givenName").unwrap(),
            AttrPath {
                urn: None,
                name: "name".into(),
                sub: Some("givenName".into())
            }
        );
        assert_eq!(
            AttrPath::parse("members.$ref").unwrap().sub.as_deref(),
            Some("$ref")
        );
    }

    #[test]
    fn bad_character_is_pointed_at() {
        let e = AttrPath::parse("na me").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid path: unexpected character ' ' in attribute name at column 3\n  na me\n    ^"
        );
    }

    #[test]
    fn get_ci_prefers_the_exact_key() {
        let v = serde_json::json!({"userName": "exact", "USERNAME": "other"});
        let obj = v.as_object().unwrap();
        assert_eq!(get_ci(obj, "userName"), Some(&serde_json::json!("exact")));
        assert_eq!(get_ci(obj, "username"), Some(&serde_json::json!("exact")));
        assert_eq!(get_ci(obj, "nope"), None);
    }

    #[test]
    fn values_at_flattens_and_follows_urns() {
        use serde_json::json;
        let reg = Registry::rfc7643();
        let rt = reg.resource_type("User").unwrap();
        let user = json!({
            "userName": "bjensen",
            "name": {"familyName": "Jensen"},
            "Emails": [
                {"value": "a@x", "type": "work"},
                {"value": null, "type": "home"},
                null
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "7",
                "manager": {"value": "m1"}
            },
            "title": null
        });
        let at = |p: &str| values_at(&user, &reg, rt, &AttrPath::parse(p).unwrap());
        assert_eq!(at("userName"), vec![&json!("bjensen")]);
        assert_eq!(at("name.familyName"), vec![&json!("Jensen")]);
        assert_eq!(at("emails.value"), vec![&json!("a@x")]);
        assert_eq!(at("emails.type"), vec![&json!("work"), &json!("home")]);
        assert_eq!(at("emails").len(), 2);
        assert_eq!(at("employeeNumber"), vec![&json!("7")]);
        assert_eq!(
            at("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
            vec![&json!("m1")]
        );
        assert_eq!(
            at("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
            vec![&json!("bjensen")]
        );
        assert!(at("title").is_empty());
        assert!(at("nickName").is_empty());
        assert!(at("unknownThing").is_empty());
        assert!(at("schemas").is_empty());
    }

    #[test]
    fn multibyte_input_does_not_panic() {
        for input in ["abcé", "uré:x", "é", "urn:é", "a.é", "😀"] {
            assert!(AttrPath::parse(input).is_err(), "{input}");
        }
    }
}
