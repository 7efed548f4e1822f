//! Bulk (RFC 7644 §3.7), cut to the server's limits, or one request per operation where the
//! server has no Bulk endpoint.
//!
//! Operations are packed in order into requests that respect `maxOperations` and
//! `maxPayloadSize` (measured on the serialized request, not estimated). A later request may
//! refer to a resource created by an earlier one as `bulkId:…`: the server only resolves
//! references within one request, so the client substitutes the ids it has learned before
//! sending. An operation too large for any Bulk request on its own goes as a plain request.
//!
//! The result is one entry per operation, each a typed [`Error`] or what the server returned,
//! so the caller handles a failed Bulk operation exactly like a failed single call.

use std::collections::HashMap;

use reqwest::Method;
use scim::messages::{
    BulkMethod, BulkOperation, BulkOperationResponse, BulkRequest, BulkResponse, ErrorMessage,
    PatchRequest,
};
use serde_json::Value;

use crate::error::{Error, Rejection, Result};
use crate::transport::Call;
use crate::{BulkLimits, Client};

/// What the server did with one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkDone {
    pub status: u16,
    /// The resource's id: from the response body, or the last segment of `location`.
    pub id: Option<String>,
    pub location: Option<String>,
    pub version: Option<String>,
    /// The resource, when the server returned it.
    pub resource: Option<Value>,
}

/// The outcome of one operation, in the order the operations were given.
#[derive(Debug)]
pub struct BulkResult {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// The path as given (before `bulkId:` substitution).
    pub path: String,
    pub outcome: Result<BulkDone>,
}

/// The envelope around the operations, to measure a request's size.
const ENVELOPE: usize = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":18446744073709551615,"Operations":[]}"#.len();

impl Client {
    /// Runs `operations` through `/Bulk` in as few requests as the server's limits allow, or
    /// one by one without Bulk. `fail_on_errors` is passed to each Bulk request.
    ///
    /// Only failures of the whole call (discovery, configuration) are an `Err`; everything
    /// that happens to an operation is in its [`BulkResult`].
    pub async fn bulk(
        &self,
        operations: Vec<BulkOperation>,
        fail_on_errors: Option<u64>,
    ) -> Result<Vec<BulkResult>> {
        let caps = self.capabilities().await?;
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut results = Vec::with_capacity(operations.len());
        let Some(limits) = caps.bulk else {
            for op in operations {
                let sent = substitute(&op, &ids);
                let outcome = self.single(&sent).await;
                remember(&op, &outcome, &mut ids);
                results.push(result_of(op, outcome));
            }
            return Ok(results);
        };
        let mut pending = operations.into_iter().peekable();
        while pending.peek().is_some() {
            let (chunk, sent) = take_chunk(&mut pending, &ids, limits);
            if chunk.is_empty() {
                // The next operation does not fit in any Bulk request: send it on its own.
                if let Some(op) = pending.next() {
                    let s = substitute(&op, &ids);
                    let outcome = self.single(&s).await;
                    remember(&op, &outcome, &mut ids);
                    results.push(result_of(op, outcome));
                }
                continue;
            }
            let outcomes = self.send_chunk(&sent, fail_on_errors).await;
            for (op, outcome) in chunk.into_iter().zip(outcomes) {
                remember(&op, &outcome, &mut ids);
                results.push(result_of(op, outcome));
            }
        }
        Ok(results)
    }

    async fn send_chunk(
        &self,
        ops: &[BulkOperation],
        fail_on_errors: Option<u64>,
    ) -> Vec<Result<BulkDone>> {
        let request = BulkRequest::new(ops.to_vec(), fail_on_errors);
        let call = match self.url(&["Bulk"]) {
            Ok(url) => {
                Call::new(Method::POST, url).json(serde_json::to_vec(&request).unwrap_or_default())
            }
            Err(e) => return ops.iter().map(|_| Err(e.clone())).collect(),
        };
        let response: Result<BulkResponse> = match self.transport().execute(&call).await {
            Ok(reply) => reply.message(),
            Err(e) => Err(e),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return ops.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut by_bulk_id: HashMap<&str, &BulkOperationResponse> = HashMap::new();
        for r in &response.operations {
            if let Some(b) = &r.bulk_id {
                by_bulk_id.insert(b, r);
            }
        }
        let positional = response.operations.len() == ops.len();
        ops.iter()
            .enumerate()
            .map(|(i, op)| {
                let r = op
                    .bulk_id
                    .as_deref()
                    .and_then(|b| by_bulk_id.get(b).copied())
                    .or_else(|| positional.then(|| &response.operations[i]));
                match r {
                    Some(r) => outcome_of(r),
                    None => Err(Error::Transient {
                        message: format!(
                            "{} {}: not processed (the server stopped the Bulk request early)",
                            op.method, op.path
                        ),
                        rejection: None,
                    }),
                }
            })
            .collect()
    }

    /// One operation as a plain request, for servers without Bulk.
    async fn single(&self, op: &BulkOperation) -> Result<BulkDone> {
        let path = op.path.trim_start_matches('/');
        let (endpoint, id) = match path.split_once('/') {
            Some((e, id)) => (e, Some(id)),
            None => (path, None),
        };
        let resources = self.resources(endpoint);
        let data = op.data.clone().unwrap_or(Value::Null);
        let need_id = || {
            id.ok_or_else(|| {
                Error::Config(format!(
                    "{} {} needs a resource id in the path",
                    op.method, op.path
                ))
            })
        };
        let resource = match op.method {
            BulkMethod::Post => Some(resources.create(&data).await?),
            BulkMethod::Put => Some(
                resources
                    .replace(need_id()?, &data, op.version.as_deref())
                    .await?,
            ),
            BulkMethod::Patch => {
                let request: PatchRequest = scim::messages::from_value(data)
                    .map_err(|e| Error::Config(format!("{} {}: {e}", op.method, op.path)))?;
                resources
                    .patch(need_id()?, &request, op.version.as_deref())
                    .await?
            }
            BulkMethod::Delete => {
                resources.delete(need_id()?, op.version.as_deref()).await?;
                None
            }
        };
        let status = match op.method {
            BulkMethod::Post => 201,
            BulkMethod::Delete => 204,
            _ => 200,
        };
        let rid = resource
            .as_ref()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| id.map(str::to_owned));
        let version = resource
            .as_ref()
            .and_then(|r| r.get("meta")?.get("version")?.as_str().map(str::to_owned));
        let location = resource
            .as_ref()
            .and_then(|r| r.get("meta")?.get("location")?.as_str().map(str::to_owned));
        Ok(BulkDone {
            status,
            id: rid,
            location,
            version,
            resource,
        })
    }
}

/// The longest prefix of `pending` that fits one request, substituted; empty when the first
/// operation alone is too big.
fn take_chunk(
    pending: &mut std::iter::Peekable<impl Iterator<Item = BulkOperation>>,
    ids: &HashMap<String, String>,
    limits: BulkLimits,
) -> (Vec<BulkOperation>, Vec<BulkOperation>) {
    let max_ops = usize::try_from(limits.max_operations)
        .unwrap_or(usize::MAX)
        .max(1);
    let max_bytes = usize::try_from(limits.max_payload_size).unwrap_or(usize::MAX);
    let mut originals = Vec::new();
    let mut sent = Vec::new();
    let mut size = ENVELOPE;
    while originals.len() < max_ops {
        let Some(op) = pending.peek() else { break };
        let s = substitute(op, ids);
        let bytes = serde_json::to_vec(&s).map_or(usize::MAX, |b| b.len() + 1);
        if size.saturating_add(bytes) > max_bytes {
            break;
        }
        size += bytes;
        if let Some(op) = pending.next() {
            originals.push(op);
            sent.push(s);
        }
    }
    (originals, sent)
}

/// `op` with every `bulkId:x` whose resource is known replaced by its id.
fn substitute(op: &BulkOperation, ids: &HashMap<String, String>) -> BulkOperation {
    if ids.is_empty() {
        return op.clone();
    }
    let mut op = op.clone();
    op.path = replace_refs(&op.path, ids);
    if let Some(data) = &mut op.data {
        walk(data, ids);
    }
    op
}

fn walk(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) if s.contains("bulkId:") => *s = replace_refs(s, ids),
        Value::Array(a) => a.iter_mut().for_each(|e| walk(e, ids)),
        Value::Object(o) => o.values_mut().for_each(|e| walk(e, ids)),
        _ => {}
    }
}

fn replace_refs(s: &str, ids: &HashMap<String, String>) -> String {
    // References are whole values ("bulkId:qwerty") or whole path segments.
    let mut out = String::with_capacity(s.len());
    for (i, part) in s.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match part.strip_prefix("bulkId:").and_then(|b| ids.get(b)) {
            Some(id) => out.push_str(id),
            None => out.push_str(part),
        }
    }
    out
}

fn remember(op: &BulkOperation, outcome: &Result<BulkDone>, ids: &mut HashMap<String, String>) {
    if let (Some(b), Ok(done)) = (&op.bulk_id, outcome)
        && let Some(id) = &done.id
    {
        ids.insert(b.clone(), id.clone());
    }
}

fn result_of(op: BulkOperation, outcome: Result<BulkDone>) -> BulkResult {
    BulkResult {
        method: op.method,
        bulk_id: op.bulk_id,
        path: op.path,
        outcome,
    }
}

fn outcome_of(r: &BulkOperationResponse) -> Result<BulkDone> {
    if r.status >= 400 {
        let body = r
            .response
            .clone()
            .and_then(|v| serde_json::from_value::<ErrorMessage>(v).ok())
            .map(Box::new);
        let rejection = Rejection {
            status: r.status,
            text: match &body {
                Some(_) => None,
                None => r.response.as_ref().map(Value::to_string),
            },
            body,
        };
        return Err(Error::from_status(rejection, None));
    }
    let resource = r.response.clone().filter(Value::is_object);
    let id = resource
        .as_ref()
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            r.location
                .as_deref()
                .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        });
    Ok(BulkDone {
        status: r.status,
        id,
        location: r.location.clone(),
        version: r.version.clone(),
        resource,
    })
}
