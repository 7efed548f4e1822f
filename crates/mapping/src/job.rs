//! Job files: the mappings and scoping filters of a provisioning job, in TOML.
//!
//! The engine's part of a job file (schedule, connectors' settings, deprovisioning policy) is
//! read by the engine; this module reads what mapping needs and ignores the rest, so both can
//! grow without touching each other. Mapping entries and clauses reject unknown keys, because
//! a misspelt `aply = "on_create"` would otherwise silently change behaviour.
//!
//! ```toml
//! default_domain = "contoso.com"
//!
//! [source]
//! attributes = ["WorkerID", "FirstName", "LastName", "Status"]
//!
//! [[object]]
//! name = "users"
//! resource_type = "User"
//!
//! [[object.scoping]]
//! title = "Active workers"
//! clauses = [{ attribute = "Status", operator = "EQUALS", value = "Active" }]
//!
//! [[object.mapping]]
//! target = "externalId"
//! source = "WorkerID"
//! match = 1
//!
//! [[object.mapping]]
//! target = "userName"
//! expression = 'ToLower(Join("@", Join(".", [FirstName], [LastName]), "contoso.com"))'
//! apply = "on_create"
//! ```
//!
//! The whole format, with a complete HR → directory example, is in
//! `docs/mapping-language.md` and `docs/examples/hr-to-directory.toml`.

use std::fmt;

use scim::patch::{OpKind, Operation, apply_operation};
use scim::schema::ResourceType;
use scim::{PatchPath, Registry};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::check::SourceAttributes;
use crate::context::Context;
use crate::eval::{Record, lookup};
use crate::scoping::{Scope, ScopingFilter};
use crate::value::Value;
use crate::{Error, Expression, Flow};

/// The parts of a job file that mapping reads.
#[derive(Debug, Clone, Deserialize)]
pub struct JobFile {
    #[serde(default)]
    pub name: Option<String>,
    /// What `DefaultDomain()` returns.
    #[serde(default)]
    pub default_domain: Option<String>,
    #[serde(default)]
    pub source: SourceSection,
    #[serde(default, rename = "object")]
    pub objects: Vec<ObjectSection>,
}

/// The source connector's section; mapping only reads its attribute list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SourceSection {
    /// The attributes source records have. When given, expressions, direct mappings and
    /// clauses naming any other attribute are refused.
    #[serde(default)]
    pub attributes: Option<Vec<String>>,
}

/// The mappings and scoping of one object type (users, groups).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSection {
    pub name: String,
    /// The target's SCIM resource type (`User`, `Group`).
    pub resource_type: String,
    #[serde(default)]
    pub scoping: Vec<ScopingFilter>,
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<MappingSpec>,
}

/// One attribute mapping as written: exactly one of `source`, `constant` and `expression`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// The target attribute as a SCIM PATCH path: `name.givenName`,
    /// `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:manager`.
    pub target: String,
    /// Direct mapping: the source attribute copied as it is.
    #[serde(default)]
    pub source: Option<String>,
    /// Constant mapping: this value for every object.
    #[serde(default)]
    pub constant: Option<Json>,
    /// Expression mapping.
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub apply: Apply,
    /// Written on create when the mapping gives null ("Default value if null").
    #[serde(default)]
    pub default: Option<Json>,
    /// Matching precedence: this attribute identifies an existing target object, lowest first.
    #[serde(default, rename = "match")]
    pub matching: Option<u32>,
}

/// When a mapping applies ("Apply this mapping").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Apply {
    #[default]
    Always,
    /// Only when the object is created (Entra's "Only during object creation").
    OnCreate,
}

/// Whether the engine is creating the target object or updating a linked one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Create,
    Update,
}

/// A problem in a job file, located by object and mapping or clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where: `object "users", mapping "userName"`.
    pub location: String,
    /// What, possibly several lines (an expression error draws a caret).
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why a job file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// Not TOML, or not the shape of a job file.
    #[error("{0}")]
    Toml(String),
    /// Well-formed but wrong: every problem found, not only the first.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

/// Where a mapping's value comes from.
#[derive(Debug, Clone)]
pub enum MappingSource {
    Direct(String),
    Constant(Json),
    Expression(Expression),
}

/// A checked attribute mapping.
#[derive(Debug, Clone)]
pub struct AttributeMapping {
    pub target: String,
    path: PatchPath,
    /// Index of the top-level attribute this mapping writes (see [`ObjectMapping::map`]).
    group: usize,
    /// Where a string value goes when the target is a plain string attribute.
    direct: Option<DirectWrite>,
    pub source: MappingSource,
    pub apply: Apply,
    pub default: Option<Json>,
    pub matching: Option<u32>,
}

/// The canonical keys of a string attribute with no canonical values, singular
/// (`name.givenName`) or one element of a multi-valued complex attribute picked by
/// `sub eq "literal"` (`emails[type eq "work"].value`). A string written there needs none of
/// `scim::patch`'s work beyond creating the element from the filter, so
/// [`ObjectMapping::map`] sets it itself; everything else goes through `apply_operation`.
#[derive(Debug, Clone)]
struct DirectWrite {
    ext: Option<String>,
    attr: String,
    /// For a multi-valued attribute: the element whose `.0` equals `.1`.
    select: Option<(String, String)>,
    sub: Option<String>,
}

impl DirectWrite {
    fn plan(registry: &Registry, rt: &ResourceType, path: &PatchPath) -> Option<DirectWrite> {
        use scim::filter::{CompValue, CompareOp, Filter};
        use scim::schema::{AttrType, Attribute, Mutability};
        let r = registry.resolve(rt, &path.attr)?;
        let t = r.target();
        let writable = |a: &Attribute| a.mutability != Mutability::ReadOnly;
        if t.kind != AttrType::String
            || !t.canonical_values.is_empty()
            || t.multi_valued
            || !writable(r.attr)
            || !writable(t)
        {
            return None;
        }
        let select = match &path.filter {
            None if !r.attr.multi_valued => None,
            Some(Filter::Compare {
                path: key,
                op: CompareOp::Eq,
                value: CompValue::String(lit),
            }) if r.attr.multi_valued
                && r.sub.is_some()
                && key.urn.is_none()
                && key.sub.is_none() =>
            {
                let k = r.attr.sub_attribute(&key.name)?;
                let canonical =
                    k.canonical_values.is_empty() || k.canonical_values.iter().any(|c| c == lit);
                if k.kind != AttrType::String || !canonical {
                    return None;
                }
                Some((k.name.clone(), lit.clone()))
            }
            _ => return None,
        };
        Some(DirectWrite {
            ext: r.extension.then(|| r.schema.map(str::to_owned)).flatten(),
            attr: r.attr.name.clone(),
            select,
            sub: r.sub.map(|a| a.name.clone()),
        })
    }

    fn write(&self, part: &mut Json, value: Json) {
        let Json::Object(obj) = part else {
            return;
        };
        let mut obj = obj;
        if let Some(ext) = &self.ext {
            let Json::Object(inner) = obj
                .entry(ext.clone())
                .or_insert_with(|| Json::Object(Default::default()))
            else {
                return;
            };
            obj = inner;
        }
        let Some(sub) = &self.sub else {
            obj.insert(self.attr.clone(), value);
            return;
        };
        let slot = obj.entry(self.attr.clone());
        let target = match &self.select {
            None => slot.or_insert_with(|| Json::Object(Default::default())),
            Some((key, lit)) => {
                let Json::Array(items) = slot.or_insert_with(|| Json::Array(Vec::new())) else {
                    return;
                };
                let at = items
                    .iter()
                    .position(|e| e.get(key).and_then(Json::as_str) == Some(lit));
                match at {
                    Some(i) => &mut items[i],
                    None => {
                        items.push(serde_json::json!({ key.as_str(): lit }));
                        let last = items.len() - 1;
                        &mut items[last]
                    }
                }
            }
        };
        if let Json::Object(m) = target {
            m.insert(sub.clone(), value);
        }
    }
}

/// A matching attribute's value for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchKey {
    pub precedence: u32,
    pub target: String,
    pub value: Json,
}

/// What mapping one record produced: the SCIM resource fragment the engine diffs and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    /// The attributes written, as a SCIM resource (with `schemas`).
    pub resource: Json,
    /// Targets left out by `IgnoreFlowIfNullOrEmpty`: neither written nor cleared.
    pub dropped: Vec<String>,
    /// Targets whose value logs and plans must show as `[Redact]`.
    pub redacted: Vec<String>,
    /// Targets whose values are added to the target's, never replacing them.
    pub additive: Vec<String>,
    /// Matching attributes and their values, lowest precedence first.
    pub matching: Vec<MatchKey>,
}

/// Why mapping one record failed; the engine retries the object later.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{target}: {message}")]
pub struct MapError {
    pub target: String,
    pub message: String,
}

/// The checked mappings and scope of one object type.
#[derive(Debug, Clone)]
pub struct ObjectMapping {
    pub name: String,
    pub resource_type: String,
    pub mappings: Vec<AttributeMapping>,
    pub scope: Scope,
    /// How many distinct top-level attributes the mappings write.
    groups: usize,
}

/// A checked job file.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: Option<String>,
    pub default_domain: Option<String>,
    pub objects: Vec<ObjectMapping>,
}

impl Job {
    /// Parses and checks a job file against `registry` (the target's schemas).
    pub fn parse(text: &str, registry: &Registry) -> Result<Job, JobError> {
        let file: JobFile = toml::from_str(text).map_err(|e| JobError::Toml(e.to_string()))?;
        Job::check(&file, registry)
    }

    /// Checks a parsed job file, collecting every problem.
    pub fn check(file: &JobFile, registry: &Registry) -> Result<Job, JobError> {
        let attrs = file.source.attributes.as_ref().map(SourceAttributes::new);
        let mut diags = Vec::new();
        let mut objects = Vec::new();
        let mut names = Vec::new();
        for obj in &file.objects {
            if names.contains(&obj.name) {
                diags.push(Diagnostic {
                    location: format!("object \"{}\"", obj.name),
                    message: "another object has this name".into(),
                });
            }
            names.push(obj.name.clone());
            if let Some(o) = ObjectMapping::compile(obj, registry, attrs.as_ref(), &mut diags) {
                objects.push(o);
            }
        }
        if diags.is_empty() {
            Ok(Job {
                name: file.name.clone(),
                default_domain: file.default_domain.clone(),
                objects,
            })
        } else {
            Err(JobError::Invalid(diags))
        }
    }

    pub fn object(&self, name: &str) -> Option<&ObjectMapping> {
        self.objects.iter().find(|o| o.name == name)
    }
}

impl ObjectMapping {
    /// Checks one object section, pushing problems to `diags`; `None` when there were any.
    pub fn compile(
        obj: &ObjectSection,
        registry: &Registry,
        attrs: Option<&SourceAttributes>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<ObjectMapping> {
        let before = diags.len();
        let here = |what: &str| format!("object \"{}\"{what}", obj.name);
        let rt = registry.resource_type(&obj.resource_type);
        if rt.is_none() {
            diags.push(Diagnostic {
                location: here(""),
                message: format!("unknown resource type \"{}\"", obj.resource_type),
            });
        }
        if let Err(errors) = Scope::compile(&obj.scoping, attrs) {
            diags.extend(errors.into_iter().map(|message| Diagnostic {
                location: here(""),
                message,
            }));
        }
        let mut mappings = Vec::new();
        let mut targets: Vec<String> = Vec::new();
        let mut precedences = Vec::new();
        let mut group_keys: Vec<(Option<String>, String)> = Vec::new();
        for m in &obj.mappings {
            let location = here(&format!(", mapping \"{}\"", m.target));
            let mut problem = |message: String| {
                diags.push(Diagnostic {
                    location: location.clone(),
                    message,
                })
            };
            let path = match PatchPath::parse(&m.target) {
                Ok(p) => Some(p),
                Err(e) => {
                    problem(e.to_string());
                    None
                }
            };
            if let (Some(rt), Some(p)) = (rt, &path)
                && registry.resolve(rt, &p.attr).is_none()
            {
                problem(format!(
                    "the target has no attribute \"{}\" in resource type {}",
                    p.attr, rt.name
                ));
            }
            let canonical = path
                .as_ref()
                .map_or(m.target.clone(), |p| p.to_string().to_lowercase());
            if targets.contains(&canonical) {
                problem("another mapping writes the same target".into());
            }
            targets.push(canonical);
            let source = match (&m.source, &m.constant, &m.expression) {
                (Some(s), None, None) => {
                    if let Some(a) = attrs
                        && !a.contains(s)
                    {
                        let hint = a
                            .suggest(s)
                            .map(|x| format!("; did you mean \"{x}\"?"))
                            .unwrap_or_default();
                        problem(format!("unknown source attribute \"{s}\"{hint}"));
                    }
                    Some(MappingSource::Direct(s.clone()))
                }
                (None, Some(c), None) => Some(MappingSource::Constant(c.clone())),
                (None, None, Some(e)) => match Expression::compile(e, attrs) {
                    Ok(x) => {
                        if x.is_select_unique_value() {
                            if m.apply != Apply::OnCreate {
                                problem(
                                    "SelectUniqueValue only works on create: add \
                                     apply = \"on_create\""
                                        .into(),
                                );
                            }
                            if m.matching.is_some() {
                                problem(
                                    "SelectUniqueValue cannot compute a matching attribute".into(),
                                );
                            }
                        }
                        Some(MappingSource::Expression(x))
                    }
                    Err(err) => {
                        problem(format!("\n{err}"));
                        None
                    }
                },
                _ => {
                    problem("give exactly one of source, constant and expression".into());
                    None
                }
            };
            if let Some(p) = m.matching {
                if precedences.contains(&p) {
                    problem(format!("another mapping has match = {p}"));
                }
                precedences.push(p);
            }
            if let (Some(path), Some(source)) = (path, source) {
                let key = (
                    path.attr.urn.as_ref().map(|u| u.to_lowercase()),
                    path.attr.name.to_lowercase(),
                );
                let group = group_keys
                    .iter()
                    .position(|k| *k == key)
                    .unwrap_or_else(|| {
                        group_keys.push(key);
                        group_keys.len() - 1
                    });
                let direct = rt.and_then(|rt| DirectWrite::plan(registry, rt, &path));
                mappings.push(AttributeMapping {
                    target: m.target.clone(),
                    path,
                    group,
                    direct,
                    source,
                    apply: m.apply,
                    default: m.default.clone(),
                    matching: m.matching,
                });
            }
        }
        (diags.len() == before).then(|| ObjectMapping {
            name: obj.name.clone(),
            resource_type: obj.resource_type.clone(),
            mappings,
            scope: Scope::compile(&obj.scoping, attrs).unwrap_or_default(),
            groups: group_keys.len(),
        })
    }

    /// Whether `record` is in scope of this object's scoping filters.
    pub fn in_scope(&self, record: &Record) -> bool {
        self.scope.matches(record)
    }

    /// Maps one record to the SCIM fragment for `phase`.
    ///
    /// On update, mappings applied only on create are skipped and defaults are not used
    /// (Entra: "isn't provisioned when updating an existing user"). A null value writes
    /// nothing: like Entra, mappings never clear a target attribute.
    pub fn map(
        &self,
        registry: &Registry,
        record: &Record,
        ctx: &mut dyn Context,
        phase: Phase,
    ) -> Result<Fragment, MapError> {
        let rt = self.resource_type(registry)?;
        // Each top-level attribute is built in its own small object and merged at the end:
        // `apply_operation` copies the resource it writes to (for atomicity), and copying a
        // one-attribute object per mapping is far cheaper than copying the growing fragment.
        let mut parts: Vec<Json> = vec![Json::Object(Default::default()); self.groups];
        let mut fragment = Fragment {
            resource: serde_json::json!({ "schemas": [rt.schema] }),
            dropped: Vec::new(),
            redacted: Vec::new(),
            additive: Vec::new(),
            matching: Vec::new(),
        };
        for m in &self.mappings {
            if phase == Phase::Update && m.apply == Apply::OnCreate {
                continue;
            }
            let err = |message: String| MapError {
                target: m.target.clone(),
                message,
            };
            let value = match &m.source {
                MappingSource::Direct(name) => lookup(record, name).cloned().unwrap_or(Json::Null),
                MappingSource::Constant(c) => c.clone(),
                MappingSource::Expression(x) => {
                    let outcome = x
                        .evaluate_for(&m.target, record, ctx)
                        .map_err(|e: Error| err(format!("\n{e}")))?;
                    if outcome.redacted {
                        fragment.redacted.push(m.target.clone());
                    }
                    if outcome.additive {
                        fragment.additive.push(m.target.clone());
                    }
                    match outcome.flow {
                        Flow::Set(v) => v.to_json(),
                        Flow::Ignore => {
                            fragment.dropped.push(m.target.clone());
                            continue;
                        }
                    }
                }
            };
            let value = match (value, &m.default, phase) {
                (Json::Null, Some(d), Phase::Create) => d.clone(),
                (v, _, _) => v,
            };
            if value.is_null() || Value::from_json(&value).is_null_or_empty() && value.is_array() {
                continue;
            }
            if let Some(p) = m.matching {
                fragment.matching.push(MatchKey {
                    precedence: p,
                    target: m.target.clone(),
                    value: value.clone(),
                });
            }
            if let (Some(d), Json::String(_)) = (&m.direct, &value) {
                d.write(&mut parts[m.group], value);
                continue;
            }
            let op = Operation {
                op: OpKind::Add,
                path: Some(m.path.clone()),
                value: Some(value),
            };
            apply_operation(registry, rt, &mut parts[m.group], &op)
                .map_err(|e| err(e.to_string()))?;
        }
        for part in parts {
            merge(&mut fragment.resource, part);
        }
        for ext in &rt.schema_extensions {
            if fragment.resource.get(&ext.schema).is_some()
                && let Some(Json::Array(schemas)) = fragment.resource.get_mut("schemas")
                && !schemas.iter().any(|s| s == ext.schema.as_str())
            {
                schemas.push(Json::String(ext.schema.clone()));
            }
        }
        fragment.matching.sort_by_key(|k| k.precedence);
        Ok(fragment)
    }

    fn resource_type<'r>(&self, registry: &'r Registry) -> Result<&'r ResourceType, MapError> {
        registry
            .resource_type(&self.resource_type)
            .ok_or_else(|| MapError {
                target: self.resource_type.clone(),
                message: "the registry has no such resource type".into(),
            })
    }
}

/// Moves the attributes of `part` into `into`: `schemas` entries are added once, extension
/// objects are merged key by key, anything else is set.
fn merge(into: &mut Json, part: Json) {
    let (Json::Object(into), Json::Object(part)) = (into, part) else {
        return;
    };
    for (k, v) in part {
        match (into.get_mut(&k), v) {
            (Some(Json::Array(have)), Json::Array(add)) if k == "schemas" => {
                for s in add {
                    if !have.contains(&s) {
                        have.push(s);
                    }
                }
            }
            (Some(Json::Object(have)), Json::Object(add)) => have.extend(add),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}
