//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) with the `returned` characteristic
//! (RFC 7643 §2.2).
//!
//! Decisions, where the RFCs leave room:
//!
//! * `returned: always` (`id`, and `schemas`, which no schema defines) is in every response;
//!   `excludedAttributes` cannot remove it. `returned: never` (`password`) is in none, even
//!   when asked for.
//! * `returned: request` attributes appear only when `attributes` names them: by name, by one
//!   of their sub-attributes, or by their schema's URN (naming a schema names all of it).
//! * When `attributes` is given, only what it names appears (plus `always`); `meta` too is
//!   then only there when named. When both lists are given, `attributes` selects first and
//!   `excludedAttributes` then removes from that selection.
//! * Names are resolved like filter paths: case-insensitively, with or without the URN prefix;
//!   a bare schema URN (`urn:…:enterprise:2.0:User`) means every attribute of that schema.
//!   A name that the resource type does not know is ignored rather than rejected: clients send
//!   one `attributes` list to several resource types (`/.search` at the root) and expect the
//!   names that do not apply to be skipped. A name that is not even syntactically a name is
//!   rejected (400 `invalidPath`, with a caret under the fault).
//! * `schemas` is returned as stored, even when the projection removed all of an extension's
//!   attributes: it says which schemas the resource has, not which keys this response holds,
//!   and a client checking for the extension should not be misled by its own projection. An
//!   extension object left empty is omitted rather than sent as `{}`.
//! * A complex value whose selected sub-attributes are all absent is omitted, as is an element
//!   of a multi-valued attribute left empty: `attributes=emails.display` does not send `[{}]`.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::messages::{SearchRequest, split_attr_list};
use crate::path::AttrPath;

use crate::schema::{Attribute, Registry, ResourceType, Returned, common_attribute};

/// Most names one `attributes` or `excludedAttributes` list may hold. Schemas have a few dozen
/// attributes; the bound keeps a hostile query from turning each projection into a long scan.
pub const MAX_PROJECTION_NAMES: usize = 512;

/// A parsed `attributes` / `excludedAttributes` pair. The default projects nothing away but
/// what `returned` says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    attributes: Vec<Name>,
    excluded: Vec<Name>,
}

/// One name of a list: kept raw because a schema URN such as `urn:example:ext:1.0` is not an
/// attribute path, and only the resource type can tell which one it is.
#[derive(Debug, Clone, PartialEq)]
struct Name {
    raw: String,
    path: Option<AttrPath>,
}

/// What a name designates in one resource type.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    /// All attributes of the schema with this URN (the core schema or an extension).
    Schema(&'a str),
    /// An attribute, maybe one sub-attribute of it. `ext` is the extension URN for extension
    /// attributes and `None` for core and common ones, which all sit at the top level.
    Attr {
        ext: Option<&'a str>,
        name: &'a str,
        sub: Option<&'a str>,
    },
}

/// The two lists resolved against one resource type.
struct Plan<'a> {
    attributes: Vec<Target<'a>>,
    excluded: Vec<Target<'a>>,
    /// Whether an `attributes` list was given at all (even one naming only unknown attributes:
    /// the client then asked for nothing beyond `always`).
    selecting: bool,
}

impl Projection {
    /// No `attributes`, no `excludedAttributes`: what `returned` says.
    pub fn all() -> Projection {
        Projection::default()
    }

    /// Parses the two query parameters, each a comma-separated list (RFC 7644 §3.4.2.5).
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection, Error> {
        Projection::new(
            attributes.map(split_attr_list).into_iter().flatten(),
            excluded.map(split_attr_list).into_iter().flatten(),
        )
    }

    /// Builds a projection from the two lists of names.
    pub fn new<'s>(
        attributes: impl IntoIterator<Item = &'s str>,
        excluded: impl IntoIterator<Item = &'s str>,
    ) -> Result<Projection, Error> {
        Ok(Projection {
            attributes: names("attributes", attributes)?,
            excluded: names("excludedAttributes", excluded)?,
        })
    }

    /// The projection a SearchRequest asks for.
    pub fn from_request(request: &SearchRequest) -> Result<Projection, Error> {
        Projection::new(
            request.attributes.iter().map(String::as_str),
            request.excluded_attributes.iter().map(String::as_str),
        )
    }

    /// Whether neither list was given.
    pub fn is_all(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether a response would carry the attribute `name` (any part of it) if the resource had
    /// it. A server asks this before loading costly attributes: `excludedAttributes=members`
    /// (how Entra reads groups) must not read the membership table.
    ///
    /// `name` is an attribute path as in the lists (`members`, `urn:…:User:manager`). A name
    /// that does not parse is reported as included, the safe answer for "should I load it".
    pub fn includes(&self, registry: &Registry, rt: &ResourceType, name: &str) -> bool {
        let Ok(path) = AttrPath::parse(name) else {
            return true;
        };
        let plan = self.plan(registry, rt);
        let Some(Target::Attr { ext, name, .. }) = target(registry, rt, &path) else {
            return true;
        };
        let def = definition(registry, rt, ext, name);
        plan.select(rt, ext, name, def).is_some()
    }

    fn plan<'a>(&'a self, registry: &'a Registry, rt: &'a ResourceType) -> Plan<'a> {
        let resolve = |list: &'a [Name]| -> Vec<Target<'a>> {
            list.iter()
                .filter_map(|n| {
                    if let Some(urn) = registry
                        .schema_urns(rt)
                        .find(|u| u.eq_ignore_ascii_case(&n.raw))
                    {
                        return Some(Target::Schema(urn));
                    }
                    target(registry, rt, n.path.as_ref()?)
                })
                .collect()
        };
        Plan {
            attributes: resolve(&self.attributes),
            excluded: resolve(&self.excluded),
            selecting: !self.attributes.is_empty(),
        }
    }
}

fn names<'s>(list: &str, items: impl IntoIterator<Item = &'s str>) -> Result<Vec<Name>, Error> {
    let mut out = Vec::new();
    for raw in items {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        if out.len() == MAX_PROJECTION_NAMES {
            return Err(Error::InvalidValue(format!(
                "{list} names more than {MAX_PROJECTION_NAMES} attributes"
            )));
        }
        let path = match AttrPath::parse(raw) {
            Ok(p) => Some(p),
            // Possibly a schema URN ending in a version (`urn:example:ext:1.0`); decided
            // against the resource type.
            Err(_) if raw.len() > 4 && raw[..4].eq_ignore_ascii_case("urn:") => None,
            Err(e) => return Err(e),
        };
        out.push(Name {
            raw: raw.to_owned(),
            path,
        });
    }
    Ok(out)
}

/// Resolves a path to the attribute it designates in `rt`, or `None` when it designates
/// nothing there. Paths the schemas do not define still designate attributes of that name, so
/// that data no schema describes is projected consistently with the names that mention it.
fn target<'a>(
    registry: &'a Registry,
    rt: &'a ResourceType,
    path: &'a AttrPath,
) -> Option<Target<'a>> {
    if let Some(r) = registry.resolve(rt, path) {
        return Some(Target::Attr {
            ext: if r.extension { r.schema } else { None },
            name: r.attr.name.as_str(),
            sub: r.sub.map(|s| s.name.as_str()).or(path.sub.as_deref()),
        });
    }
    let ext = match &path.urn {
        None => None,
        Some(urn) if urn.eq_ignore_ascii_case(&rt.schema) => None,
        Some(urn) => Some(
            rt.schema_extensions
                .iter()
                .find(|e| e.schema.eq_ignore_ascii_case(urn))?
                .schema
                .as_str(),
        ),
    };
    if path.name.eq_ignore_ascii_case("schemas") && ext.is_none() {
        return None;
    }
    Some(Target::Attr {
        ext,
        name: &path.name,
        sub: path.sub.as_deref(),
    })
}

/// The definition of a top-level attribute: common attributes, then the core schema, or the
/// extension schema when `ext` is given.
fn definition<'a>(
    registry: &'a Registry,
    rt: &ResourceType,
    ext: Option<&str>,
    name: &str,
) -> Option<&'a Attribute> {
    match ext {
        Some(urn) => registry.schema(urn)?.attribute(name),
        None => common_attribute(name).or_else(|| registry.schema(&rt.schema)?.attribute(name)),
    }
}

fn returned(def: Option<&Attribute>) -> Returned {
    def.map_or(Returned::Default, |d| d.returned)
}

/// How much of an attribute a response carries.
struct Selection<'a> {
    /// Named explicitly (by name or by schema URN): `request` sub-attributes come too.
    explicit: bool,
    /// When `Some`, only these sub-attributes (plus `always` ones) are carried.
    only_subs: Option<Vec<&'a str>>,
    /// Sub-attributes removed by `excludedAttributes`.
    excluded_subs: Vec<&'a str>,
}

impl<'a> Plan<'a> {
    /// Whether and how the top-level attribute `name` (in extension `ext`, or core/common) is
    /// carried; `None` when it is left out entirely.
    fn select(
        &self,
        rt: &ResourceType,
        ext: Option<&str>,
        name: &str,
        def: Option<&Attribute>,
    ) -> Option<Selection<'a>> {
        let schema_urn = ext.unwrap_or(&rt.schema);
        let is_whole = |t: &Target<'_>| match *t {
            Target::Schema(urn) => urn.eq_ignore_ascii_case(schema_urn),
            Target::Attr {
                ext: e,
                name: n,
                sub,
            } => sub.is_none() && same_scope(e, ext) && n.eq_ignore_ascii_case(name),
        };
        let subs_of = |list: &[Target<'a>]| -> Vec<&'a str> {
            list.iter()
                .filter_map(|t| match *t {
                    Target::Attr {
                        ext: e,
                        name: n,
                        sub: Some(sub),
                    } if same_scope(e, ext) && n.eq_ignore_ascii_case(name) => Some(sub),
                    _ => None,
                })
                .collect()
        };
        // `id` is always returned whatever a registry says (RFC 7643 §3.1).
        let always = ext.is_none() && name.eq_ignore_ascii_case("id");
        let returned = if always {
            Returned::Always
        } else {
            returned(def)
        };

        let explicit = self.attributes.iter().any(is_whole);
        let named_subs = subs_of(&self.attributes);
        let mut selection = Selection {
            explicit,
            only_subs: None,
            excluded_subs: subs_of(&self.excluded),
        };
        match returned {
            Returned::Never => return None,
            Returned::Always => return Some(selection),
            Returned::Default | Returned::Request => {}
        }
        if self.selecting {
            if !explicit {
                if named_subs.is_empty() {
                    return None;
                }
                selection.only_subs = Some(named_subs);
            }
        } else if returned == Returned::Request {
            return None;
        }
        if self.excluded.iter().any(is_whole) {
            return None;
        }
        Some(selection)
    }
}

fn same_scope(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// The resource as the projection lets a client see it. Non-object input is returned as is.
pub fn project(
    resource: &Value,
    registry: &Registry,
    rt: &ResourceType,
    projection: &Projection,
) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let plan = projection.plan(registry, rt);
    let mut out = Map::with_capacity(obj.len());
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let ext = rt
            .schema_extensions
            .iter()
            .find(|e| e.schema.eq_ignore_ascii_case(key));
        if let Some(ext) = ext {
            let urn = ext.schema.as_str();
            let Some(inner) = value.as_object() else {
                continue;
            };
            let mut inner_out = Map::new();
            for (k, v) in inner {
                let def = definition(registry, rt, Some(urn), k);
                if let Some(v) = project_attribute(&plan, rt, Some(urn), k, def, v) {
                    inner_out.insert(k.clone(), v);
                }
            }
            if !inner_out.is_empty() {
                out.insert(key.clone(), Value::Object(inner_out));
            }
            continue;
        }
        let def = definition(registry, rt, None, key);
        if let Some(v) = project_attribute(&plan, rt, None, key, def, value) {
            out.insert(key.clone(), v);
        }
    }
    Value::Object(out)
}

fn project_attribute(
    plan: &Plan<'_>,
    rt: &ResourceType,
    ext: Option<&str>,
    name: &str,
    def: Option<&Attribute>,
    value: &Value,
) -> Option<Value> {
    let selection = plan.select(rt, ext, name, def)?;
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|item| project_element(item, def, &selection))
                .collect();
            // An empty array stays empty only if it was stored empty: projection should not
            // invent an attribute the client did not have, nor drop one it did.
            if kept.is_empty() && !items.is_empty() {
                None
            } else {
                Some(Value::Array(kept))
            }
        }
        other => project_element(other, def, &selection),
    }
}

/// One value of an attribute: sub-attributes filtered for complex values, anything else kept.
fn project_element(
    value: &Value,
    def: Option<&Attribute>,
    selection: &Selection<'_>,
) -> Option<Value> {
    let Value::Object(obj) = value else {
        return Some(value.clone());
    };
    // A plain object in an attribute without sub-attribute definitions (data no schema
    // describes) is still filtered by name, so `attributes=x.y` means the same everywhere.
    let mut out = Map::new();
    for (k, v) in obj {
        let sub_def = def.and_then(|d| d.sub_attribute(k));
        let named = |list: &[&str]| list.iter().any(|s| s.eq_ignore_ascii_case(k));
        let keep = match returned(sub_def) {
            Returned::Never => false,
            Returned::Always => true,
            r => {
                let selected = match &selection.only_subs {
                    Some(subs) => named(subs),
                    None => r == Returned::Default || selection.explicit,
                };
                selected && !named(&selection.excluded_subs)
            }
        };
        if keep {
            out.insert(k.clone(), v.clone());
        }
    }
    if out.is_empty() && !obj.is_empty() {
        None
    } else {
        Some(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::urn;
    use serde_json::json;

    const EXT: &str = "urn:example:params:scim:schemas:extension:badge:1.0";

    /// RFC 7643 registry plus an extension on User with one attribute of each `returned`.
    fn registry() -> Registry {
        let mut r = Registry::rfc7643();
        r.load_extension(
            &json!({
                "id": EXT,
                "name": "Badge",
                "attributes": [
                    {"name": "badge", "type": "string", "returned": "default"},
                    {"name": "pin", "type": "string", "returned": "never"},
                    {"name": "clearance", "type": "string", "returned": "request"},
                    {"name": "serial", "type": "string", "returned": "always"},
                    {"name": "door", "type": "complex", "subAttributes": [
                        {"name": "code", "type": "string", "returned": "request"},
                        {"name": "label", "type": "string"}
                    ]}
                ]
            })
            .to_string(),
            "User",
            false,
        )
        .unwrap();
        r
    }

    fn user() -> Value {
        json!({
            "schemas": [urn::USER, urn::ENTERPRISE_USER, EXT],
            "id": "2819c223",
            "externalId": "701984",
            "userName": "bjensen",
            "password": "t1meMa$heen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "active": true,
            urn::ENTERPRISE_USER: {"employeeNumber": "701984", "department": "Tour Operations"},
            EXT: {"badge": "B1", "pin": "1234", "clearance": "top", "serial": "S9",
                  "door": {"code": "42", "label": "front"}},
            "meta": {"resourceType": "User", "version": "W/\"3694e05e9dff591\""}
        })
    }

    fn run(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let reg = registry();
        let rt = reg.resource_type("User").unwrap().clone();
        let p = Projection::parse(attributes, excluded).unwrap();
        project(&user(), &reg, &rt, &p)
    }

    #[test]
    fn default_drops_never_and_request() {
        let mut expected = user();
        expected.as_object_mut().unwrap().remove("password");
        expected[EXT] = json!({"badge": "B1", "serial": "S9", "door": {"label": "front"}});
        assert_eq!(run(None, None), expected);
    }

    #[test]
    fn attributes_select_plus_always() {
        assert_eq!(
            run(Some("userName,name.givenName,password"), None),
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER, EXT],
                "id": "2819c223",
                "userName": "bjensen",
                "name": {"givenName": "Barbara"},
                EXT: {"serial": "S9"}
            })
        );
    }

    #[test]
    fn attributes_are_case_insensitive_and_urn_qualified() {
        assert_eq!(
            run(
                Some(
                    "USERNAME, urn:ietf:params:scim:schemas:core:2.0:User:emails.value,employeenumber"
                ),
                None
            ),
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER, EXT],
                "id": "2819c223",
                "userName": "bjensen",
                "emails": [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}],
                urn::ENTERPRISE_USER: {"employeeNumber": "701984"},
                EXT: {"serial": "S9"}
            })
        );
    }

    #[test]
    fn request_attributes_only_when_named() {
        let v = run(Some(&format!("{EXT}:clearance,{EXT}:door")), None);
        assert_eq!(
            v[EXT],
            json!({"clearance": "top", "serial": "S9", "door": {"code": "42", "label": "front"}})
        );
        let v = run(Some(&format!("{EXT}:door.code")), None);
        assert_eq!(v[EXT], json!({"serial": "S9", "door": {"code": "42"}}));
    }

    #[test]
    fn whole_extension_urn() {
        let v = run(Some(urn::ENTERPRISE_USER), None);
        assert_eq!(
            v,
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER, EXT],
                "id": "2819c223",
                urn::ENTERPRISE_USER: {"employeeNumber": "701984", "department": "Tour Operations"},
                EXT: {"serial": "S9"}
            })
        );
        // Naming a schema names its request attributes too, never its `never` ones.
        let v = run(Some(EXT), None);
        assert_eq!(
            v[EXT],
            json!({"badge": "B1", "clearance": "top", "serial": "S9",
                   "door": {"code": "42", "label": "front"}})
        );
        // Excluding it keeps only the `always` attribute; `schemas` keeps the URN.
        let v = run(None, Some(&format!("{},{EXT}", urn::ENTERPRISE_USER)));
        assert!(v.get(urn::ENTERPRISE_USER).is_none());
        assert_eq!(v[EXT], json!({"serial": "S9"}));
        assert_eq!(v["schemas"], json!([urn::USER, urn::ENTERPRISE_USER, EXT]));
    }

    #[test]
    fn version_ending_schema_urn() {
        // `urn:example:ext:1.0` is not an attribute path; it is a schema URN.
        let mut reg = Registry::rfc7643();
        reg.load_extension(
            &json!({"id": "urn:example:ext:1.0", "attributes": [{"name": "x", "type": "string"}]})
                .to_string(),
            "Group",
            false,
        )
        .unwrap();
        let rt = reg.resource_type("Group").unwrap().clone();
        let g = json!({"id": "g", "displayName": "G", "urn:example:ext:1.0": {"x": "1"}});
        let p = Projection::parse(Some("urn:example:ext:1.0"), None).unwrap();
        assert_eq!(
            project(&g, &reg, &rt, &p),
            json!({"id": "g", "urn:example:ext:1.0": {"x": "1"}})
        );
    }

    #[test]
    fn excluded_cannot_remove_always() {
        let v = run(
            None,
            Some(&format!("id,schemas,userName,{EXT}:serial,meta.version")),
        );
        assert_eq!(v["id"], "2819c223");
        assert!(v.get("userName").is_none());
        assert_eq!(v[EXT]["serial"], "S9");
        assert_eq!(v["meta"], json!({"resourceType": "User"}));
        assert!(v.get("schemas").is_some());
    }

    #[test]
    fn excluded_sub_attributes() {
        let v = run(None, Some("emails.type,name.familyName"));
        assert_eq!(v["name"], json!({"givenName": "Barbara"}));
        assert_eq!(
            v["emails"],
            json!([
                {"value": "bjensen@example.com", "primary": true},
                {"value": "babs@jensen.org"}
            ])
        );
    }

    #[test]
    fn both_lists_select_then_exclude() {
        let v = run(Some("name,emails"), Some("name.givenName"));
        assert_eq!(v["name"], json!({"familyName": "Jensen"}));
        assert_eq!(v["emails"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn empty_results_are_dropped_not_sent_empty() {
        let v = run(
            Some("name.middleName,emails.display,x509Certificates"),
            None,
        );
        assert_eq!(
            v,
            json!({"schemas": [urn::USER, urn::ENTERPRISE_USER, EXT], "id": "2819c223", EXT: {"serial": "S9"}})
        );
    }

    #[test]
    fn unknown_names_are_ignored_bad_names_rejected() {
        let v = run(Some("nosuch,urn:nope:Thing:x,userName"), Some("alsoNot"));
        assert_eq!(v["userName"], "bjensen");
        assert!(v.get("name").is_none());
        let e = Projection::parse(Some("userName,na me"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid path: unexpected character ' ' in attribute name at column 3\n  na me\n    ^"
        );
        let many = vec!["a"; MAX_PROJECTION_NAMES + 1].join(",");
        assert_eq!(
            Projection::parse(Some(&many), None).unwrap_err(),
            Error::InvalidValue("attributes names more than 512 attributes".into())
        );
    }

    #[test]
    fn includes_tells_the_server_what_to_load() {
        let reg = Registry::rfc7643();
        let group = reg.resource_type("Group").unwrap().clone();
        let user = reg.resource_type("User").unwrap().clone();
        let p = |a: Option<&str>, e: Option<&str>| Projection::parse(a, e).unwrap();
        assert!(p(None, None).includes(&reg, &group, "members"));
        assert!(!p(None, Some("members")).includes(&reg, &group, "members"));
        assert!(!p(None, Some("MEMBERS")).includes(&reg, &group, "members"));
        assert!(!p(Some("displayName"), None).includes(&reg, &group, "members"));
        assert!(p(Some("members.value"), None).includes(&reg, &group, "members"));
        assert!(p(Some(urn::GROUP), None).includes(&reg, &group, "members"));
        assert!(p(None, None).includes(&reg, &user, "groups"));
        assert!(!p(Some("userName"), None).includes(&reg, &user, "groups"));
        assert!(p(Some("userName"), Some("id")).includes(&reg, &user, "id"));
        assert!(!p(None, None).includes(&reg, &user, "password"));
    }

    #[test]
    fn from_search_request() {
        let req: SearchRequest =
            serde_json::from_value(json!({"attributes": ["userName"], "excludedAttributes": "id"}))
                .unwrap();
        let p = Projection::from_request(&req).unwrap();
        assert!(!p.is_all());
        assert!(Projection::all().is_all());
        let reg = registry();
        let rt = reg.resource_type("User").unwrap().clone();
        assert_eq!(
            project(&user(), &reg, &rt, &p),
            json!({"schemas": [urn::USER, urn::ENTERPRISE_USER, EXT], "id": "2819c223",
                   "userName": "bjensen", EXT: {"serial": "S9"}})
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        let reg = registry();
        let rt = reg.resource_type("User").unwrap().clone();
        let p = Projection::parse(Some("name.givenName,emails"), Some("emails.value")).unwrap();
        for doc in [
            json!(null),
            json!([1, 2]),
            json!({"name": "flat", "emails": [null, 3, {}], EXT: 5}),
        ] {
            let _ = project(&doc, &reg, &rt, &p);
        }
        assert_eq!(
            project(
                &json!({"name": "flat", "emails": [null, 3, {}]}),
                &reg,
                &rt,
                &p
            ),
            json!({"name": "flat", "emails": [null, 3, {}]})
        );
    }
}
