//! `POST /Bulk` (RFC 7644 §3.7): many operations in one request, with `bulkId` references
//! between them, `failOnErrors`, and the advertised limits enforced with 413.
//!
//! Each operation runs through the same [`service`] functions as the single request it stands
//! for: a Bulk request is not atomic (RFC 7644 §3.7 does not make it so), but its response
//! reports exactly what happened to each operation. Consecutive creates of one resource type,
//! the shape of an initial load, are validated one by one and written in one store transaction
//! ([`store::Store::create_many`]), each still succeeding or failing alone: one commit per run
//! instead of one per user is what lets a Bulk load reach tens of thousands of users a second. Operations that
//! reference a `bulkId` wait until the operation defining it has run; references that can never
//! be resolved (undefined, failed, or circular) fail with 409, as §3.7.1 permits.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use scim::messages::{BulkMethod, BulkOperation, BulkOperationResponse, BulkRequest, BulkResponse};
use scim::schema::ResourceType;
use serde_json::Value;
use store::{Load, Precondition};

use super::{base_url, scim_json};
use crate::AppState;
use crate::auth::Caller;
use crate::body::read_json;
use crate::error::ApiError;
use crate::render::{etag, location, parse_etag};
use crate::service::{self, Ctx};

const BULK_ID_PREFIX: &str = "bulkId:";

pub(super) async fn bulk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body, state.limits.bulk_max_payload).await?;
    let request = BulkRequest::from_body(body)?;
    request.validate(state.limits.bulk_max_operations as u64)?;
    let base = base_url(&state, &headers);
    let ctx = Ctx {
        state: &state,
        tenant: caller.tenant,
    };
    let responses = run(ctx, &base, request).await;
    let body = serde_json::to_value(BulkResponse::new(responses)).unwrap_or(Value::Null);
    Ok(scim_json(StatusCode::OK, &body))
}

/// What became of a `bulkId`.
enum Defined {
    Pending,
    Created(String),
    Failed,
}

async fn run(ctx: Ctx<'_>, base: &str, mut request: BulkRequest) -> Vec<BulkOperationResponse> {
    // The operations' data apart from the rest, so that a create can take its data instead of
    // copying it while `ids` borrows the operations' `bulkId`s.
    let mut datas: Vec<Option<Value>> = request
        .operations
        .iter_mut()
        .map(|op| op.data.take())
        .collect();
    let ops = &request.operations;
    let mut ids: HashMap<&str, Defined> = HashMap::new();
    for op in ops {
        if op.method == BulkMethod::Post
            && let Some(b) = op.bulk_id.as_deref()
        {
            ids.insert(b, Defined::Pending);
        }
    }
    let mut results: Vec<Option<BulkOperationResponse>> = vec![None; ops.len()];
    let mut pending: Vec<usize> = (0..ops.len()).collect();
    let mut errors = 0u64;
    let limit = request.fail_on_errors.filter(|n| *n > 0);
    'rounds: while !pending.is_empty() {
        let mut waiting = Vec::new();
        let mut progressed = false;
        let mut k = 0;
        while k < pending.len() {
            if limit.is_some_and(|n| errors >= n) {
                break 'rounds;
            }
            if let Some(run) = create_run(ctx, ops, &mut datas, &pending[k..], &ids) {
                let budget = limit.map(|n| usize::try_from(n - errors).unwrap_or(usize::MAX));
                let indexes: Vec<usize> = run.items.iter().map(|(i, _)| *i).collect();
                let items = run.items.into_iter().map(|(_, item)| item).collect();
                let written = if indexes.is_empty() {
                    Ok(Vec::new())
                } else {
                    ctx.state
                        .store
                        .create_many(ctx.tenant, &run.rt.id, items, budget)
                        .await
                };
                progressed = true;
                k += indexes.len();
                let outcomes: Vec<Result<BulkOperationResponse, ApiError>> = match written {
                    Ok(stored) => stored
                        .into_iter()
                        .zip(&indexes)
                        .map(|(r, &i)| {
                            r.map(|s| created(&ops[i], base, run.rt, &s))
                                .map_err(ApiError::from)
                        })
                        .collect(),
                    // Only a database failure fails the whole call, and then nothing of the
                    // run was written: each of its operations reports it.
                    Err(e) => {
                        let text = e.to_string();
                        indexes
                            .iter()
                            .map(|_| Err(store::StoreError::Database(text.clone()).into()))
                            .collect()
                    }
                };
                for (&i, outcome) in indexes.iter().zip(outcomes) {
                    record(&ops[i], i, outcome, &mut ids, &mut results, &mut errors);
                }
                // The operation the run stopped at because its body was refused: reported now,
                // where the loop would have run it next, unless `failOnErrors` stops first.
                if let Some((i, e)) = run.refused {
                    if limit.is_some_and(|n| errors >= n) {
                        break 'rounds;
                    }
                    k += 1;
                    record(&ops[i], i, Err(e), &mut ids, &mut results, &mut errors);
                }
                continue;
            }
            let i = pending[k];
            k += 1;
            let op = &ops[i];
            let outcome = match resolve(op, datas[i].as_ref(), &ids) {
                Resolution::Wait => {
                    waiting.push(i);
                    continue;
                }
                Resolution::Fail(e) => Err(e),
                Resolution::Ready(path, data) => execute(ctx, base, op, &path, data).await,
            };
            progressed = true;
            record(op, i, outcome, &mut ids, &mut results, &mut errors);
        }
        if !progressed {
            // Everything left waits on something else left: a cycle.
            for &i in &waiting {
                if limit.is_some_and(|n| errors >= n) {
                    break;
                }
                errors += 1;
                let e = ApiError::Scim(scim::Error::InvalidValue(
                    "circular bulkId references: this operation and the ones it references \
                     wait on each other"
                        .into(),
                ));
                results[i] = Some(conflict(&ops[i], &e));
            }
            break;
        }
        pending = waiting;
    }
    results.into_iter().flatten().collect()
}

/// Stores the outcome of operation `i` and what it defines for later `bulkId` references.
fn record<'a>(
    op: &'a BulkOperation,
    i: usize,
    outcome: Result<BulkOperationResponse, ApiError>,
    ids: &mut HashMap<&'a str, Defined>,
    results: &mut [Option<BulkOperationResponse>],
    errors: &mut u64,
) {
    let response = match outcome {
        Ok(r) => r,
        Err(e) => {
            *errors += 1;
            error_response(op, &e)
        }
    };
    if op.method == BulkMethod::Post
        && let Some(b) = op.bulk_id.as_deref()
    {
        let id = response
            .location
            .as_deref()
            .and_then(|l| l.rsplit('/').next())
            .map(str::to_owned);
        ids.insert(
            b,
            match id {
                Some(id) if response.status < 300 => Defined::Created(id),
                _ => Defined::Failed,
            },
        );
    }
    results[i] = Some(response);
}

/// Consecutive creates of one resource type at the head of `pending`, validated.
struct CreateRun<'a> {
    rt: &'a ResourceType,
    /// Operation index, then what the store creates.
    items: Vec<(usize, (Value, Vec<String>))>,
    /// The operation after them, when validation refused the body it took.
    refused: Option<(usize, ApiError)>,
}

/// The longest run of POSTs to one collection at the head of `pending` that are ready now (no
/// `bulkId` still pending), each validated as `POST` alone would; `None` when there is none.
/// The run stops before the first operation that is anything else (a wait, a bad path), which
/// takes the one-by-one path and is reported exactly as it would be alone. A POST whose body
/// validation refuses ends the run as `refused`, with the error `POST` alone gives.
///
/// A body without `bulkId` references is taken out of `datas`, not copied: the copy, and then
/// dropping the request's own, were a sixth of the workers' time in a Bulk load.
fn create_run<'a>(
    ctx: Ctx<'a>,
    ops: &[BulkOperation],
    datas: &mut [Option<Value>],
    pending: &[usize],
    ids: &HashMap<&str, Defined>,
) -> Option<CreateRun<'a>> {
    let mut run: Option<CreateRun<'a>> = None;
    for &i in pending {
        let op = &ops[i];
        if op.method != BulkMethod::Post {
            break;
        }
        let substituted = if refers(op, datas[i].as_ref()) {
            let Resolution::Ready(path, data) = resolve(op, datas[i].as_ref(), ids) else {
                break;
            };
            Some((path, data))
        } else {
            None
        };
        let path = substituted.as_ref().map_or(op.path.as_str(), |(p, _)| p);
        let Ok((rt, None)) = target(ctx, path) else {
            break;
        };
        if run.as_ref().is_some_and(|r| r.rt.id != rt.id) {
            break;
        }
        let data = match substituted {
            Some((_, data)) => data,
            None => datas[i].take(),
        };
        let current = run.get_or_insert_with(|| CreateRun {
            rt,
            items: Vec::new(),
            refused: None,
        });
        match service::prepare_create(ctx, rt, data.unwrap_or(Value::Null)) {
            Ok(item) => current.items.push((i, item)),
            Err(e) => {
                current.refused = Some((i, e));
                break;
            }
        }
    }
    run
}

/// Whether the operation's path or data holds a `bulkId:` reference for [`resolve`] to
/// substitute.
fn refers(op: &BulkOperation, data: Option<&Value>) -> bool {
    fn any(v: &Value) -> bool {
        match v {
            Value::String(s) => s.starts_with(BULK_ID_PREFIX),
            Value::Array(a) => a.iter().any(any),
            Value::Object(o) => o.values().any(any),
            _ => false,
        }
    }
    op.path
        .rsplit_once('/')
        .is_some_and(|(_, last)| last.starts_with(BULK_ID_PREFIX))
        || data.is_some_and(any)
}

enum Resolution {
    Wait,
    Fail(ApiError),
    Ready(String, Option<Value>),
}

/// Substitutes `bulkId:x` references in the path and in a copy of the data, or says why it
/// cannot yet.
fn resolve(op: &BulkOperation, data: Option<&Value>, ids: &HashMap<&str, Defined>) -> Resolution {
    let mut wait = false;
    let mut missing: Option<String> = None;
    let mut lookup = |s: &str| -> Option<String> {
        let reference = s.strip_prefix(BULK_ID_PREFIX)?;
        match ids.get(reference) {
            Some(Defined::Created(id)) => Some(id.clone()),
            Some(Defined::Pending) => {
                wait = true;
                None
            }
            Some(Defined::Failed) | None => {
                missing.get_or_insert_with(|| reference.to_owned());
                None
            }
        }
    };
    let path = match op.path.rsplit_once('/') {
        Some((head, last)) => match lookup(last) {
            Some(id) => format!("{head}/{id}"),
            None => op.path.clone(),
        },
        None => op.path.clone(),
    };
    let data = data.cloned().map(|mut d| {
        substitute(&mut d, &mut lookup);
        d
    });
    if let Some(reference) = missing {
        return Resolution::Fail(ApiError::Scim(scim::Error::InvalidValue(format!(
            "bulkId '{reference}' is not defined by a successful POST in this request"
        ))));
    }
    if wait {
        return Resolution::Wait;
    }
    Resolution::Ready(path, data)
}

fn substitute(v: &mut Value, lookup: &mut impl FnMut(&str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = lookup(s) {
                *s = id;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, lookup)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, lookup)),
        _ => {}
    }
}

/// `/Users` or `/Users/{id}` → the resource type and the id.
fn target<'a>(ctx: Ctx<'a>, path: &str) -> Result<(&'a ResourceType, Option<String>), ApiError> {
    let trimmed = path.trim_start_matches('/');
    let (endpoint, id) = match trimmed.split_once('/') {
        Some((e, id)) if !id.is_empty() && !id.contains('/') => (e, Some(id.to_owned())),
        Some(_) => {
            return Err(scim::Error::InvalidValue(format!(
                "bulk path '{path}' is not a resource path"
            ))
            .into());
        }
        None => (trimmed, None),
    };
    let rt = ctx
        .state
        .registry
        .resource_type_by_endpoint(endpoint)
        .ok_or_else(|| {
            ApiError::Scim(scim::Error::InvalidValue(format!(
                "bulk path '{path}' names no resource endpoint; use /Users or /Groups"
            )))
        })?;
    Ok((rt, id))
}

async fn execute(
    ctx: Ctx<'_>,
    base: &str,
    op: &BulkOperation,
    path: &str,
    data: Option<Value>,
) -> Result<BulkOperationResponse, ApiError> {
    let (rt, id) = target(ctx, path)?;
    let precondition = match op.version.as_deref() {
        Some(v) => Precondition::Version(parse_etag(v).unwrap_or(-1)),
        None => Precondition::None,
    };
    let data = data.unwrap_or(Value::Null);
    let need_id = || {
        id.clone().ok_or_else(|| {
            ApiError::Scim(scim::Error::InvalidValue(format!(
                "bulk {} needs a resource path like {}/{{id}}",
                op.method, rt.endpoint
            )))
        })
    };
    let none = Load::default();
    let (status, stored) = match op.method {
        BulkMethod::Post => {
            if id.is_some() {
                return Err(scim::Error::InvalidValue(format!(
                    "bulk POST goes to the collection {}, not to one resource",
                    rt.endpoint
                ))
                .into());
            }
            (201, Some(service::create(ctx, rt, data).await?))
        }
        BulkMethod::Put => (
            200,
            Some(service::replace(ctx, rt, &need_id()?, &data, precondition, none).await?),
        ),
        BulkMethod::Patch => (
            200,
            Some(service::patch(ctx, rt, &need_id()?, &data, precondition, none).await?),
        ),
        BulkMethod::Delete => {
            service::delete(ctx, rt, &need_id()?, precondition).await?;
            (204, None)
        }
    };
    Ok(BulkOperationResponse {
        method: op.method,
        bulk_id: op.bulk_id.clone(),
        version: stored.as_ref().map(|s| etag(s.version)),
        location: Some(match &stored {
            Some(s) => location(base, rt, &s.id),
            None => format!("{base}{path}"),
        }),
        response: None,
        status,
    })
}

/// The response to a successful create.
fn created(
    op: &BulkOperation,
    base: &str,
    rt: &ResourceType,
    stored: &store::Stored,
) -> BulkOperationResponse {
    BulkOperationResponse {
        method: op.method,
        bulk_id: op.bulk_id.clone(),
        version: Some(etag(stored.version)),
        location: Some(location(base, rt, &stored.id)),
        response: None,
        status: 201,
    }
}

fn error_response(op: &BulkOperation, e: &ApiError) -> BulkOperationResponse {
    let message = e.message();
    BulkOperationResponse {
        method: op.method,
        bulk_id: op.bulk_id.clone(),
        version: None,
        location: None,
        status: message.status,
        response: serde_json::to_value(&message).ok(),
    }
}

/// A failed reference is a conflict between operations of the request (RFC 7644 §3.7.1).
fn conflict(op: &BulkOperation, e: &ApiError) -> BulkOperationResponse {
    let mut r = error_response(op, e);
    r.status = 409;
    if let Some(Value::Object(body)) = &mut r.response {
        body.insert("status".into(), Value::String("409".into()));
    }
    r
}
