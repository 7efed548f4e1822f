//! The SCIM operations on resources, independent of HTTP framing, so that a single request and
//! the same operation inside a Bulk request behave identically.
//!
//! Group membership is special-cased here and only here: `members` is not kept in the group's
//! document but in the store's membership table, so a PATCH that adds one member to a group of
//! 100,000 writes one row. Member operations are split off a PATCH and turned into
//! [`MemberChange`] deltas; everything else goes through the protocol crate's PATCH engine.

use std::collections::HashSet;
use std::sync::Arc;

use scim::filter::Filter;
use scim::patch::{OpKind, Operation, TextOutcome};
use scim::schema::ResourceType;
use scim::validate::{Mode, validate_with};
use serde_json::{Map, Value};
use store::{Load, MemberChange, Modification, NewDoc, Precondition, StoreError, Stored, TenantId};

use crate::AppState;
use crate::error::ApiError;

/// The caller's view: which state, which tenant.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub tenant: TenantId,
}

/// Whether this resource type keeps `members` in the membership table.
pub fn has_members(rt: &ResourceType) -> bool {
    rt.schema == scim::urn::GROUP
}

fn not_found(rt: &ResourceType, id: &str) -> ApiError {
    ApiError::NotFound(format!("{} {id} not found", rt.name))
}

/// Takes the member ids out of a validated group document.
fn take_members(doc: &mut Value) -> Vec<String> {
    let Some(obj) = doc.as_object_mut() else {
        return Vec::new();
    };
    let Some(Value::Array(members)) = obj.remove("members") else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    members
        .iter()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
        .filter(|v| seen.insert(v.to_string()))
        .map(str::to_owned)
        .collect()
}

/// The current resource as the PATCH engine and validator see it: the stored document with
/// `id` (members and groups are never part of it).
fn current_doc(stored: &Stored) -> Value {
    let mut doc = stored.doc.clone();
    if let Some(o) = doc.as_object_mut() {
        o.insert("id".into(), Value::String(stored.id.clone()));
    }
    doc
}

fn strip_id(mut doc: Value) -> Value {
    if let Some(o) = doc.as_object_mut() {
        o.remove("id");
        o.remove("meta");
        o.remove("members");
        o.remove("groups");
    }
    doc
}

/// POST: validate, store, return what was stored.
pub async fn create(ctx: Ctx<'_>, rt: &ResourceType, body: Value) -> Result<Stored, ApiError> {
    let (doc, members) = prepare_create(ctx, rt, body)?;
    Ok(ctx
        .state
        .store
        .create(ctx.tenant, &rt.id, doc, members)
        .await?)
}

/// What a POST stores: the validated document and, for a group, its member ids. Split from
/// [`create`] so Bulk can validate a run of creates and write them in one transaction.
pub fn prepare_create(
    ctx: Ctx<'_>,
    rt: &ResourceType,
    body: Value,
) -> Result<(Value, Vec<String>), ApiError> {
    let limits = ctx.state.limits.values();
    // The body is ours: validation moves its values into the document instead of copying them.
    let mut doc =
        scim::validate::validate_owned(&ctx.state.registry, rt, body, Mode::Create, &limits)?;
    let members = if has_members(rt) {
        take_members(&mut doc)
    } else {
        Vec::new()
    };
    Ok((strip_id(doc), members))
}

/// GET by id.
pub async fn get(
    ctx: Ctx<'_>,
    rt: &ResourceType,
    id: &str,
    load: Load,
) -> Result<Stored, ApiError> {
    ctx.state
        .store
        .get(ctx.tenant, &rt.id, id, load)
        .await?
        .ok_or_else(|| not_found(rt, id))
}

fn map_missing(rt: &ResourceType, id: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => not_found(rt, id),
        e => e.into(),
    }
}

/// PUT: replace the whole resource (RFC 7644 §3.5.1). Immutable values may not change;
/// readOnly input is ignored.
pub async fn replace(
    ctx: Ctx<'_>,
    rt: &ResourceType,
    id: &str,
    body: &Value,
    precondition: Precondition,
    load: Load,
) -> Result<Stored, ApiError> {
    let registry = Arc::clone(&ctx.state.registry);
    let limits = ctx.state.limits.values();
    let members = has_members(rt);
    let (rt_owned, body) = (rt.clone(), body.clone());
    let modify = move |current: &Stored| -> Result<Modification, StoreError> {
        let existing = current_doc(current);
        let mut doc = validate_with(
            &registry,
            &rt_owned,
            &body,
            Mode::Replace {
                existing: &existing,
            },
            &limits,
        )?;
        let mut changes = Vec::new();
        if members {
            let wanted: Vec<String> = take_members(&mut doc);
            let have: HashSet<&str> = current
                .members
                .iter()
                .flatten()
                .map(|m| m.value.as_str())
                .collect();
            let want: HashSet<&str> = wanted.iter().map(String::as_str).collect();
            let remove: Vec<String> = have.difference(&want).map(|s| s.to_string()).collect();
            let add: Vec<String> = wanted
                .iter()
                .filter(|w| !have.contains(w.as_str()))
                .cloned()
                .collect();
            if !remove.is_empty() {
                changes.push(MemberChange::Remove(remove));
            }
            if !add.is_empty() {
                changes.push(MemberChange::Add(add));
            }
        }
        let doc = strip_id(doc);
        Ok(Modification {
            doc: (!scim::json_eq(&doc, &current.doc)).then_some(doc.into()),
            members: changes,
        })
    };
    let load = Load {
        members: load.members || members,
        groups: load.groups,
        // A write's result is rendered from the document it wrote.
        raw: false,
    };
    ctx.state
        .store
        .modify(ctx.tenant, &rt.id, id, precondition, load, Box::new(modify))
        .await
        .map_err(|e| map_missing(rt, id, e))
}

/// PATCH (RFC 7644 §3.5.2), atomic: every operation or none.
pub async fn patch(
    ctx: Ctx<'_>,
    rt: &ResourceType,
    id: &str,
    body: &Value,
    precondition: Precondition,
    load: Load,
) -> Result<Stored, ApiError> {
    let request: scim::messages::PatchRequest = scim::messages::from_value(body.clone())?;
    let limits = &ctx.state.limits;
    request.validate_with(limits.max_patch_operations)?;
    let ops = scim::patch::parse_operations_with(&request, &limits.filter())?;
    let values = limits.values();
    let (doc_ops, member_ops) = if has_members(rt) {
        split_member_ops(ops)
    } else {
        (ops, Vec::new())
    };
    let needs_members = member_ops.iter().any(MemberOpResult::needs_current);
    let registry = Arc::clone(&ctx.state.registry);
    let rt_owned = rt.clone();
    let modify = move |current: &Stored| -> Result<Modification, StoreError> {
        let (registry, rt) = (&*registry, &rt_owned);
        let doc = if doc_ops.is_empty() {
            None
        } else {
            patched_doc(registry, rt, current, &doc_ops, &values)?
        };
        let mut members = Vec::new();
        for op in &member_ops {
            op.changes(registry, rt, current, &mut members)?;
        }
        Ok(Modification { doc, members })
    };
    let load = Load {
        members: load.members || needs_members,
        groups: load.groups,
        // The stored document as text, for `patched_doc`; the result is rendered from the
        // text written.
        raw: true,
    };
    ctx.state
        .store
        .modify(ctx.tenant, &rt.id, id, precondition, load, Box::new(modify))
        .await
        .map_err(|e| map_missing(rt, id, e))
}

/// The document `ops` make of the stored one, `None` when they leave it as it is. Given the
/// stored text, only the top-level attributes the operations name are parsed, validated and
/// written anew (`scim::patch::apply_to_text`); otherwise, or when that path declines, the
/// whole document is patched.
fn patched_doc(
    registry: &scim::Registry,
    rt: &ResourceType,
    current: &Stored,
    ops: &[Operation],
    limits: &scim::validate::Limits,
) -> Result<Option<NewDoc>, StoreError> {
    let parsed;
    let stored = match (&current.raw, &current.doc) {
        (Some(text), Value::Null) => {
            match scim::patch::apply_to_text(registry, rt, text, ops, limits)? {
                Some(TextOutcome::Unchanged) => return Ok(None),
                Some(TextOutcome::Changed(rewritten)) => {
                    return Ok(Some(NewDoc::Rewritten(rewritten)));
                }
                None => {
                    parsed = serde_json::from_str::<Value>(text).map_err(|e| {
                        StoreError::Database(format!(
                            "stored document of {} is not JSON: {e}",
                            current.id
                        ))
                    })?;
                    &parsed
                }
            }
        }
        (_, doc) => doc,
    };
    // The stored document as it is, without `id`: the operations cannot target `id`
    // (readOnly) and `strip_id` drops it from the result anyway, and a copy with `id` added
    // was a second clone of the document on the writer thread.
    let outcome = scim::patch::apply_with(registry, rt, stored, ops, limits)?;
    if !outcome.changed {
        return Ok(None);
    }
    let new = strip_id(outcome.resource);
    Ok((!scim::json_eq(&new, stored)).then(|| new.into()))
}

/// DELETE.
pub async fn delete(
    ctx: Ctx<'_>,
    rt: &ResourceType,
    id: &str,
    precondition: Precondition,
) -> Result<(), ApiError> {
    ctx.state
        .store
        .delete(ctx.tenant, &rt.id, id, precondition)
        .await
        .map_err(|e| map_missing(rt, id, e))
}

/// A PATCH operation on `members`, turned into row deltas.
#[derive(Debug)]
struct MemberOp {
    op: OpKind,
    filter: Option<Filter>,
    values: Vec<String>,
    has_value: bool,
}

impl MemberOp {
    /// Whether the current member list must be read: filters other than `value eq "…"` and
    /// whole-list replacement.
    fn needs_current(&self) -> bool {
        match self.op {
            OpKind::Replace => true,
            _ => self
                .filter
                .as_ref()
                .is_some_and(|f| simple_value_ids(f).is_none()),
        }
    }

    fn changes(
        &self,
        registry: &scim::Registry,
        rt: &ResourceType,
        current: &Stored,
        out: &mut Vec<MemberChange>,
    ) -> Result<(), StoreError> {
        let selected = |f: &Filter| -> Vec<String> {
            if let Some(ids) = simple_value_ids(f) {
                return ids;
            }
            let attr = registry
                .schema(&rt.schema)
                .and_then(|s| s.attribute("members"));
            let Some(attr) = attr else { return Vec::new() };
            current
                .members
                .iter()
                .flatten()
                .filter(|m| {
                    let element = serde_json::json!({
                        "value": m.value, "type": m.kind, "display": m.display,
                    });
                    f.matches_element(&element, attr)
                })
                .map(|m| m.value.clone())
                .collect()
        };
        match (self.op, &self.filter) {
            (OpKind::Add, None) => out.push(MemberChange::Add(self.values.clone())),
            (OpKind::Add, Some(_)) => {
                return Err(scim::Error::InvalidPath(
                    "add to 'members' takes no filter; send the members to add as the value".into(),
                )
                .into());
            }
            (OpKind::Remove, None) if self.has_value => {
                out.push(MemberChange::Remove(self.values.clone()))
            }
            (OpKind::Remove, None) => out.push(MemberChange::RemoveAll),
            (OpKind::Remove, Some(f)) => {
                let ids = selected(f);
                if !ids.is_empty() {
                    out.push(MemberChange::Remove(ids));
                }
            }
            (OpKind::Replace, filter) => {
                let remove: Vec<String> = match filter {
                    Some(f) => selected(f),
                    None => current
                        .members
                        .iter()
                        .flatten()
                        .map(|m| m.value.clone())
                        .collect(),
                };
                let keep: HashSet<&str> = self.values.iter().map(String::as_str).collect();
                let remove: Vec<String> = remove
                    .into_iter()
                    .filter(|r| !keep.contains(r.as_str()))
                    .collect();
                if !remove.is_empty() {
                    out.push(MemberChange::Remove(remove));
                }
                if !self.values.is_empty() {
                    out.push(MemberChange::Add(self.values.clone()));
                }
            }
        }
        Ok(())
    }
}

/// `value eq "a"` or `value eq "a" or value eq "b"`: the ids, without reading the group.
fn simple_value_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare {
            path,
            op: scim::filter::CompareOp::Eq,
            value: scim::filter::CompValue::String(s),
        } if path.name.eq_ignore_ascii_case("value") && path.sub.is_none() => Some(vec![s.clone()]),
        Filter::Or(a, b) => {
            let mut ids = simple_value_ids(a)?;
            ids.extend(simple_value_ids(b)?);
            Some(ids)
        }
        _ => None,
    }
}

fn is_members_path(op: &Operation) -> bool {
    op.path.as_ref().is_some_and(|p| {
        p.attr.name.eq_ignore_ascii_case("members")
            && p.attr.sub.is_none()
            && p.attr
                .urn
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(scim::urn::GROUP))
    })
}

/// Member ids of a PATCH value: `[{"value": id}, …]`, one object, or bare id strings.
fn member_ids(value: Option<&Value>) -> Result<Vec<String>, scim::Error> {
    let bad = || {
        scim::Error::InvalidValue("members must be given as [{\"value\": \"<id>\"}, …]".to_string())
    };
    let items: Vec<&Value> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
    };
    items
        .into_iter()
        .map(|m| match m {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => scim::path::get_ci(o, "value")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(bad),
            _ => Err(bad()),
        })
        .collect()
}

/// Splits a group PATCH into operations on its document and operations on its members.
/// Path-less `add`/`replace` values with a `members` key are split in two.
fn split_member_ops(ops: Vec<Operation>) -> (Vec<Operation>, Vec<MemberOpResult>) {
    let mut doc_ops = Vec::new();
    let mut member_ops = Vec::new();
    for op in ops {
        if is_members_path(&op) {
            let path = op.path.as_ref().expect("members path");
            member_ops.push(member_op(op.op, path.filter.clone(), op.value.as_ref()));
            continue;
        }
        if op.path.is_none()
            && let Some(Value::Object(obj)) = &op.value
            && let Some(key) = obj.keys().find(|k| {
                k.eq_ignore_ascii_case("members")
                    || k.eq_ignore_ascii_case(&format!("{}:members", scim::urn::GROUP))
            })
        {
            let mut rest: Map<String, Value> = obj.clone();
            let members = rest.remove(&key.clone());
            member_ops.push(member_op(op.op, None, members.as_ref()));
            if !rest.is_empty() {
                doc_ops.push(Operation {
                    op: op.op,
                    path: None,
                    value: Some(Value::Object(rest)),
                });
            }
            continue;
        }
        doc_ops.push(op);
    }
    (doc_ops, member_ops)
}

/// A member operation, or the error its value produced (reported inside the transaction so the
/// whole PATCH fails atomically with it).
#[derive(Debug)]
struct MemberOpResult(Result<MemberOp, scim::Error>);

impl MemberOpResult {
    fn needs_current(&self) -> bool {
        self.0.as_ref().is_ok_and(MemberOp::needs_current)
    }

    fn changes(
        &self,
        registry: &scim::Registry,
        rt: &ResourceType,
        current: &Stored,
        out: &mut Vec<MemberChange>,
    ) -> Result<(), StoreError> {
        match &self.0 {
            Ok(op) => op.changes(registry, rt, current, out),
            Err(e) => Err(e.clone().into()),
        }
    }
}

fn member_op(op: OpKind, filter: Option<Filter>, value: Option<&Value>) -> MemberOpResult {
    MemberOpResult(member_ids(value).map(|values| MemberOp {
        op,
        filter,
        has_value: value.is_some_and(|v| !v.is_null()),
        values,
    }))
}
