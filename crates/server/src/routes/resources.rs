//! `/{Resources}` and `/{Resources}/{id}`: create, list, read, replace, patch, delete.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use scim::project::Projection;
use scim::schema::ResourceType;
use store::{Load, Stored};

use super::{Method, base_url, if_match, not_allowed, scim_json_text};
use crate::AppState;
use crate::auth::Caller;
use crate::body::{query_pairs, read_json};
use crate::error::ApiError;
use crate::render::{self, etag, load_for, parse_etag};
use crate::service::{self, Ctx};

pub(super) fn resource_type<'s>(
    state: &'s AppState,
    id: &str,
) -> Result<&'s ResourceType, ApiError> {
    state
        .registry
        .resource_type(id)
        .ok_or_else(|| ApiError::NotFound(format!("unknown resource type {id}")))
}

/// `GET` list and `POST` create on the collection.
///
/// The handlers own the resource type's id as an `Arc<str>`: axum clones a route's handlers for
/// every request it routes there, and a `String` was an allocation and a copy each time.
pub(super) fn collection(rt: &str) -> Method {
    let a: Arc<str> = Arc::from(rt);
    let b = Arc::clone(&a);
    get(
        move |state: State<AppState>, caller: Extension<Caller>, headers: HeaderMap, uri: Uri| {
            super::search::list_get(state, caller, headers, uri, a.clone())
        },
    )
    .post(
        move |state: State<AppState>,
              caller: Extension<Caller>,
              headers: HeaderMap,
              uri: Uri,
              body: Body| { create(state, caller, headers, uri, body, b.clone()) },
    )
    .fallback(not_allowed("GET, POST"))
}

/// `GET`, `PUT`, `PATCH`, `DELETE` on one resource.
pub(super) fn item(rt: &str) -> Method {
    let a: Arc<str> = Arc::from(rt);
    let (b, c, d) = (Arc::clone(&a), Arc::clone(&a), Arc::clone(&a));
    get(
        move |state: State<AppState>,
              caller: Extension<Caller>,
              headers: HeaderMap,
              uri: Uri,
              id: Path<String>| { read(state, caller, headers, uri, id, a.clone()) },
    )
    .put(
        move |state: State<AppState>,
              caller: Extension<Caller>,
              headers: HeaderMap,
              uri: Uri,
              id: Path<String>,
              body: Body| {
            write(
                state,
                caller,
                headers,
                uri,
                id,
                body,
                b.clone(),
                Write::Replace,
            )
        },
    )
    .patch(
        move |state: State<AppState>,
              caller: Extension<Caller>,
              headers: HeaderMap,
              uri: Uri,
              id: Path<String>,
              body: Body| {
            write(
                state,
                caller,
                headers,
                uri,
                id,
                body,
                c.clone(),
                Write::Patch,
            )
        },
    )
    .merge(on(
        MethodFilter::DELETE,
        move |state: State<AppState>,
              caller: Extension<Caller>,
              headers: HeaderMap,
              id: Path<String>| { remove(state, caller, headers, id, d.clone()) },
    ))
    .fallback(not_allowed("GET, PUT, PATCH, DELETE"))
}

/// The `attributes`/`excludedAttributes` of a query string.
pub(super) fn projection_from_query(uri: &Uri) -> Result<Projection, ApiError> {
    let pairs = query_pairs(uri.query());
    let find = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_ref())
    };
    Ok(Projection::parse(
        find("attributes"),
        find("excludedattributes"),
    )?)
}

/// A single-resource response: body, `ETag`, and `Location` on create.
pub(crate) fn resource_response(
    state: &AppState,
    status: StatusCode,
    stored: &Stored,
    rt: &ResourceType,
    base: &str,
    projection: &Projection,
) -> Response {
    let body = render::resource_text(state, stored, rt, base, projection);
    let mut r = scim_json_text(status, body);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag(stored.version)) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&render::location(base, rt, &stored.id))
    {
        h.insert(header::LOCATION, v);
    }
    r
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
    rt: Arc<str>,
) -> Result<Response, ApiError> {
    let rt = resource_type(&state, &rt)?;
    let projection = projection_from_query(&uri)?;
    let body = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let ctx = Ctx {
        state: &state,
        tenant: caller.tenant,
    };
    let mut stored = service::create(ctx, rt, body).await?;
    let load = load_for(&state, rt, &projection);
    // The store answers a create with what it wrote, memberships included (a new user is in no
    // group yet); only what it left out is read back.
    if (load.groups && stored.groups.is_none()) || (load.members && stored.members.is_none()) {
        stored = service::get(ctx, rt, &stored.id, load).await?;
    }
    let base = base_url(&state, &headers);
    Ok(resource_response(
        &state,
        StatusCode::CREATED,
        &stored,
        rt,
        &base,
        &projection,
    ))
}

async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    rt: Arc<str>,
) -> Result<Response, ApiError> {
    let rt = resource_type(&state, &rt)?;
    let projection = projection_from_query(&uri)?;
    let ctx = Ctx {
        state: &state,
        tenant: caller.tenant,
    };
    let stored = service::get(ctx, rt, &id, load_for(&state, rt, &projection)).await?;
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let hit = inm.trim() == "*"
            || inm
                .split(',')
                .filter_map(parse_etag)
                .any(|v| v == stored.version);
        if hit {
            return Err(ApiError::NotModified {
                etag: etag(stored.version),
            });
        }
    }
    let base = base_url(&state, &headers);
    Ok(resource_response(
        &state,
        StatusCode::OK,
        &stored,
        rt,
        &base,
        &projection,
    ))
}

#[derive(Debug, Clone, Copy)]
enum Write {
    Replace,
    Patch,
}

#[allow(clippy::too_many_arguments)]
async fn write(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    body: Body,
    rt: Arc<str>,
    kind: Write,
) -> Result<Response, ApiError> {
    let rt = resource_type(&state, &rt)?;
    let projection = projection_from_query(&uri)?;
    let body = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let ctx = Ctx {
        state: &state,
        tenant: caller.tenant,
    };
    // A group PATCH answered with the whole group would read every member: the cost of adding
    // one member would grow with the group. RFC 7644 §3.5.2 allows 204 instead, which is what
    // Entra expects; a client that wants the group back asks with `attributes` or
    // `excludedAttributes` and gets exactly that projection.
    let asked = uri.query().is_some_and(|q| {
        query_pairs(Some(q))
            .iter()
            .any(|(k, _)| k == "attributes" || k == "excludedattributes")
    });
    let no_content = matches!(kind, Write::Patch) && service::has_members(rt) && !asked;
    let load = if no_content {
        Load::default()
    } else {
        load_for(&state, rt, &projection)
    };
    let precondition = if_match(&headers);
    let mut stored = match kind {
        Write::Replace => service::replace(ctx, rt, &id, &body, precondition, load).await?,
        Write::Patch => service::patch(ctx, rt, &id, &body, precondition, load).await?,
    };
    if no_content {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag(stored.version)) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    if !load.members {
        stored.members = None;
    }
    let base = base_url(&state, &headers);
    Ok(resource_response(
        &state,
        StatusCode::OK,
        &stored,
        rt,
        &base,
        &projection,
    ))
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    rt: Arc<str>,
) -> Result<Response, ApiError> {
    let rt = resource_type(&state, &rt)?;
    let ctx = Ctx {
        state: &state,
        tenant: caller.tenant,
    };
    service::delete(ctx, rt, &id, if_match(&headers)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
