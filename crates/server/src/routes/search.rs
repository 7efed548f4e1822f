//! Queries: `GET /{Resources}`, `POST /{Resources}/.search` and `POST /.search` (RFC 7644
//! §3.4.2, §3.4.3), with index and cursor (RFC 9865) pagination.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use scim::messages::SearchRequest;
use scim::project::Projection;
use scim::schema::ResourceType;
use scim::{AttrPath, Filter};
use store::{Load, Query, SortOrder};

use super::resources::resource_type;
use super::{Method, base_url, not_allowed, scim_json_text};
use crate::AppState;
use crate::auth::Caller;
use crate::body::{query_pairs, read_json};
use crate::error::ApiError;
use crate::render;
use crate::render::load_for;

/// `POST /{Resources}/.search`.
pub(super) fn typed(rt: &str) -> Method {
    let rt: Arc<str> = Arc::from(rt);
    post(
        move |state: State<AppState>, caller: Extension<Caller>, headers: HeaderMap, body: Body| {
            search_post(state, caller, headers, body, Some(rt.clone()))
        },
    )
    .fallback(not_allowed("POST"))
}

/// `POST /.search` across every resource type.
pub(super) async fn root(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    search_post(state, caller, headers, body, None).await
}

async fn search_post(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
    rt: Option<Arc<str>>,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body, state.limits.max_body_bytes).await?;
    let request: SearchRequest = scim::messages::from_value(body)?;
    let rt = rt.map(|r| resource_type(&state, &r)).transpose()?;
    run(&state, caller, &headers, rt, &request).await
}

/// `GET /{Resources}?filter=…`.
pub(super) async fn list_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    rt: Arc<str>,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(uri.query());
    let request =
        SearchRequest::from_query_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
    let rt = resource_type(&state, &rt)?;
    run(&state, caller, &headers, Some(rt), &request).await
}

fn join(list: &[String]) -> Option<String> {
    (!list.is_empty()).then(|| list.join(","))
}

async fn run(
    state: &AppState,
    caller: Caller,
    headers: &HeaderMap,
    rt: Option<&ResourceType>,
    request: &SearchRequest,
) -> Result<Response, ApiError> {
    let registry = &state.registry;
    let filter = match &request.filter {
        Some(text) => {
            let filter = Filter::parse_with(text, &state.limits.filter())?;
            match rt {
                Some(rt) => filter.check(registry, rt)?,
                None => {
                    // At the root a filter must make sense for at least one resource type.
                    let mut first_err = None;
                    let ok = registry.resource_types().iter().any(|rt| {
                        filter
                            .check(registry, rt)
                            .map_err(|e| first_err.get_or_insert(e).clone())
                            .is_ok()
                    });
                    if !ok && let Some(e) = first_err {
                        return Err(e.into());
                    }
                }
            }
            Some(filter)
        }
        None => None,
    };
    let sort_by = match &request.sort_by {
        Some(s) => {
            let path = AttrPath::parse(s)?;
            if let Some(rt) = rt
                && registry.resolve(rt, &path).is_none()
            {
                return Err(scim::Error::InvalidValue(format!(
                    "sortBy names '{s}', which is not an attribute of {}",
                    rt.name
                ))
                .into());
            }
            Some(path)
        }
        None => None,
    };
    let projection = Projection::parse(
        join(&request.attributes).as_deref(),
        join(&request.excluded_attributes).as_deref(),
    )?;
    let load = match rt {
        Some(rt) => load_for(state, rt, &projection),
        None => Load {
            raw: projection.is_all(),
            members: registry
                .resource_types()
                .iter()
                .any(|rt| load_for(state, rt, &projection).members),
            groups: registry
                .resource_types()
                .iter()
                .any(|rt| load_for(state, rt, &projection).groups),
        },
    };
    let limits = &state.limits;
    let count = request.count(limits.default_page_size, limits.max_page_size);
    let query = Query {
        filter,
        sort_by,
        sort_order: match request.sort_order() {
            scim::messages::SortOrder::Ascending => SortOrder::Ascending,
            scim::messages::SortOrder::Descending => SortOrder::Descending,
        },
        start_index: request.start_index(),
        count,
        cursor: request.cursor.clone(),
        load,
    };
    let page = state
        .store
        .list(caller.tenant, rt.map(|r| r.id.as_str()), &query)
        .await?;
    let base = base_url(state, headers);
    let resources: Vec<(&store::Stored, &ResourceType)> = page
        .resources
        .iter()
        .filter_map(|stored| match rt {
            Some(rt) => Some((stored, rt)),
            None => Some((stored, registry.resource_type(&stored.kind)?)),
        })
        .collect();
    // The envelope is written as text, then each resource as JSON text (see
    // `render::write_resource`): no `Value` is built for the page.
    let mut body = String::with_capacity(192 + 2048 * resources.len());
    let _ = write!(
        body,
        "{{\"schemas\":[\"{}\"],\"totalResults\":{},\"itemsPerPage\":{}",
        scim::urn::LIST_RESPONSE,
        page.total,
        resources.len()
    );
    if request.cursor.is_none() {
        let _ = write!(body, ",\"startIndex\":{}", query.start_index);
    }
    if let Some(next) = &page.next_cursor {
        body.push_str(",\"nextCursor\":");
        render::push_json_str(&mut body, next);
    }
    body.push_str(",\"Resources\":[");
    for (i, (stored, rt)) in resources.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        render::write_resource(&mut body, state, stored, rt, &base, &projection);
    }
    body.push_str("]}");
    Ok(scim_json_text(StatusCode::OK, body))
}
